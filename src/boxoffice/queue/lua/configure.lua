-- Replace the line's rules: ARGV[2..] are field/value pairs (capacity, per_minute,
-- paused, opens_at, seed, places_per_address, challenge); an empty value removes the
-- field. An opening in the future is refused on a line that is open with fans in it;
-- on a line not yet open it starts a new draw.
local fields = {}
for i = 2, #ARGV, 2 do fields[ARGV[i]] = ARGV[i + 1] end
local new_open = tonumber(fields['opens_at'])
if new_open and new_open > now and tostring(new_open) ~= tostring(opens_at) then
  if is_open() and (redis.call('ZCARD', K_WAITING) + redis.call('ZCARD', K_ASEEN)) > 0 then
    return {'LINE_OPEN', NOW}
  end
  redis.call('HDEL', K_LINE, 'drawn', 'drawn_at', 'draw_kept')
  redis.call('UNLINK', K_ENTRANTS)
end
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', K_LINE, ARGV[i])
  else
    redis.call('HSET', K_LINE, ARGV[i], ARGV[i + 1])
  end
end
return {'OK', NOW}
