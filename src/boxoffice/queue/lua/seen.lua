-- Liveness from status polls answered by a mirror, written in one batch:
-- ARGV[2..] are (user, jti, seconds since the poll) triples. The poll's time is
-- taken from this line's clock, never from the app host's; a stale jti is ignored.
for i = 2, #ARGV, 3 do
  local user, jti = ARGV[i], ARGV[i + 1]
  local at = now - tonumber(ARGV[i + 2])
  local packed = redis.call('HGET', K_TICKETS, user)
  if packed and unpack_ticket(packed).jti == jti then
    if redis.call('ZSCORE', K_ASEEN, user) then
      redis.call('ZADD', K_ASEEN, 'XX', 'GT', at, user)
    else
      if not is_open() then at = math.max(at, opens_at) end
      redis.call('ZADD', K_WSEEN, 'XX', 'GT', at, user)
    end
  end
end
return {'OK', NOW}
