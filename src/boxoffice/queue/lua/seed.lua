-- Start the line afresh unless it exists (no prelude: it runs where the line is
-- missing). ARGV[2..] are the rules as field/value pairs, ARGV[1] the new epoch.
-- Whatever was left of an old line is cleared (UNLINK: a long line's sets are freed
-- off the main thread, not inside this call), and the mirrors told.
local K_LINE, K_TICKETS, K_WAITING, K_WSEEN, K_ASEEN, K_ADMISSIONS, K_EVENTS =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local K_PLACES, K_BYADDR, K_ENTRANTS = KEYS[8], KEYS[9], KEYS[10]
if redis.call('HEXISTS', K_LINE, 'capacity') == 1 then return 0 end
redis.call('UNLINK', K_LINE, K_TICKETS, K_WAITING, K_WSEEN, K_ASEEN, K_ADMISSIONS, K_PLACES,
  K_BYADDR, K_ENTRANTS)
local fields = {'epoch', ARGV[1]}
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] ~= '' then
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
  end
end
redis.call('HSET', K_LINE, unpack(fields))
redis.call('XADD', K_EVENTS, 'MAXLEN', '~', 500000, '*', 'e', 'c')
return 1
