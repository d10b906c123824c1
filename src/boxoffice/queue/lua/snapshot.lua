-- The whole line at one instant, with the id of the last event it includes.
local last = redis.call('XREVRANGE', K_EVENTS, '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
local function tickets(users, places)
  local out = {}
  for i, user in ipairs(users) do
    local packed = redis.call('HGET', K_TICKETS, user)
    if packed then
      local t = unpack_ticket(packed)
      out[#out + 1] = {user, t.jti, t.seq, t.iat, tostring(t.exp), places[i] or ''}
    end
  end
  return out
end
local waiting = redis.call('ZRANGE', K_WAITING, 0, -1, 'WITHSCORES')
local users, places = {}, {}
for i = 1, #waiting, 2 do
  users[#users + 1] = waiting[i]
  places[#places + 1] = waiting[i + 1]
end
return {'OK', NOW, last_id, redis.call('HGET', K_LINE, 'epoch') or '',
        tickets(users, places), tickets(redis.call('ZRANGE', K_ASEEN, 0, -1), {}),
        redis.call('ZRANGE', K_ADMISSIONS, 0, -1, 'WITHSCORES'),
        redis.call('HGET', K_LINE, 'first_admission') or ''}
