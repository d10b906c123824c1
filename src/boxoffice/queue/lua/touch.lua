-- A poll asked of Redis itself: ARGV[2] user, ARGV[3] jti.
local user, jti = ARGV[2], ARGV[3]
local stats = advance()
local t = live(user)
if not t or t.jti ~= jti then return {'OK', NOW, stats, 0} end
see(user, t)
return {'OK', NOW, stats, ticket_reply(user, t, 0)}
