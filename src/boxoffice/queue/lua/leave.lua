-- Fans leave (or end visits by paying), every one asking at this instant: ARGV[2..]
-- are (user, jti, gated at) triples; the answer is 1 per triple that left, 0 when its
-- ticket was not live or stays. A fan leaving gives 0 for gated at. A paid visit gives
-- the instant its payment's gate let it through, and stays when the fan came back to
-- it since (model.came_back): an end retried late must not end the visit in use.
-- The line moves on once, after them all.
local CLOCK_PRECISION = 0.001  -- model.CLOCK_PRECISION_SECONDS
local out, left = {}, false
for i = 2, #ARGV, 3 do
  local user, jti, gated_at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local t = live(user)
  if t and t.jti == jti and (gated_at == 0 or t.last <= gated_at + CLOCK_PRECISION) then
    remove(user, t.seq)
    out[#out + 1] = 1
    left = true
  else
    out[#out + 1] = 0
  end
end
if left then advance() end
return {'OK', NOW, out}
