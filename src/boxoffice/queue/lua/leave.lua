-- A fan leaves (or ends a visit by paying): ARGV[2] user, ARGV[3] jti.
local user, jti = ARGV[2], ARGV[3]
local t = live(user)
if not t or t.jti ~= jti then return {'OK', NOW, 0} end
remove(user, t.seq)
advance()
return {'OK', NOW, 1}
