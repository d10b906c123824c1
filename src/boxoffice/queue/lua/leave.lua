-- Fans leave (or end visits by paying), every one asking at this instant: ARGV[2..]
-- are (user, jti, gated at) triples; the answer is 1 per triple that left, 0 when its
-- ticket was not live or stays. A leave, or a paid visit's end on time, gives 0 for
-- gated at. A paid visit's end retried late (Redis had failed) gives the instant its
-- payment's gate let the visit through, and the visit stays if it was seen since
-- (more than the clock's millisecond on): the fan came back to it, and it is theirs.
-- The line moves on once, after them all.
local CLOCK_PRECISION = 0.001
local out, left = {}, false
for i = 2, #ARGV, 3 do
  local user, jti, gated_at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local t = live(user)
  if t and t.jti == jti and (gated_at == 0 or t.last <= gated_at + CLOCK_PRECISION) then
    remove(user, t)
    out[#out + 1] = 1
    left = true
  else
    out[#out + 1] = 0
  end
end
if left then advance() end
return {'OK', NOW, out}
