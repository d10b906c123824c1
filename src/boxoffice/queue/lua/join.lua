-- Joins that arrived in one turn of an instance's event loop, in their order:
-- ARGV[2..] are (user, jti, token expiry) triples. One admission sweep for all.
local created = {}
for i = 2, #ARGV, 3 do
  local user, jti, exp = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local t = live(user)
  if t then
    see(user, t)
    created[#created + 1] = 0
  elseif sold_out_at then
    created[#created + 1] = -1
  else
    local seq = redis.call('HINCRBY', K_LINE, 'seq', 1)
    local place, iat = seq, math.floor(now)
    if not is_open() then place = draw_rank(user) end
    redis.call('HSET', K_TICKETS, user, jti .. '|' .. seq .. '|' .. iat .. '|' .. exp)
    redis.call('ZADD', K_WAITING, place, user)
    redis.call('ZADD', K_WSEEN, seen_at(), user)
    event('e', 'j', 'u', user, 's', seq, 'k', jti, 'i', iat, 'x', exp,
          'p', string.format('%.17g', place))
    created[#created + 1] = 1
  end
end
local stats = advance()
local out = {}
for i = 2, #ARGV, 3 do
  local user, made = ARGV[i], created[#out + 1]
  local t = nil
  if made ~= -1 then t = live(user) end
  if t then out[#out + 1] = ticket_reply(user, t, made) else out[#out + 1] = 0 end
end
return {'OK', NOW, stats, out}
