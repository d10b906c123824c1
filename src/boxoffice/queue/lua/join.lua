-- Joins that arrived in one turn of an instance's event loop, in their order:
-- ARGV[2..] are (user, jti, token expiry, address) quadruples. One admission sweep
-- for all. Per join: 1 made, 0 found live, -1 refused (sold out), -2 refused (its
-- address holds the line's most places already).
-- Whether the address holds the line's most places, counting none of the silent.
local function at_cap(addr)
  if not places_per_address or addr == '' or places_of(addr) < places_per_address then
    return false
  end
  drop_stale(K_WSEEN, waiter_timeout)
  drop_stale(K_ASEEN, admitted_idle)
  return places_of(addr) >= places_per_address
end
local created = {}
for i = 2, #ARGV, 4 do
  local user, jti, exp, addr = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local t = live(user)
  if t then
    see(user, t)
    created[#created + 1] = 0
  elseif sold_out_at then
    created[#created + 1] = -1
  elseif at_cap(addr) then
    created[#created + 1] = -2
  else
    local seq = redis.call('HINCRBY', K_LINE, 'seq', 1)
    local place, iat = seq, math.floor(now)
    if not is_open() then
      place = draw_rank(user)
      redis.call('ZADD', K_ENTRANTS, place, user)
    end
    redis.call('HSET', K_TICKETS, user, jti .. '|' .. seq .. '|' .. iat .. '|' .. exp .. '|' .. addr)
    redis.call('ZADD', K_WAITING, place, user)
    redis.call('ZADD', K_WSEEN, seen_at(), user)
    count_place(user, addr)
    event('e', 'j', 'u', user, 's', seq, 'k', jti, 'i', iat, 'x', exp,
          'p', string.format('%.17g', place))
    created[#created + 1] = 1
  end
end
local stats = advance()
local out = {}
for i = 2, #ARGV, 4 do
  local user, made = ARGV[i], created[#out + 1]
  local t = nil
  if made >= 0 then t = live(user) end
  if t then
    out[#out + 1] = ticket_reply(user, t, made)
  elseif made == -2 then
    out[#out + 1] = -2
  else
    out[#out + 1] = 0
  end
end
return {'OK', NOW, stats, out}
