-- The gate of the booking endpoints, for every request waiting at this instant:
-- ARGV[2..] are (user, jti) pairs; the answer is (state, rank) per pair, state ''
-- when the ticket is not live. Marks each fan active. Leaves admitting to the other
-- steps (and the tick), so the busiest authenticated path does the least work.
local out = {}
for i = 2, #ARGV, 2 do
  local user, jti = ARGV[i], ARGV[i + 1]
  local state, where = '', 0
  local t = live(user)
  if t and t.jti == jti then
    see(user, t)
    state, where = state_of(t), rank(user, t)
  end
  out[#out + 1] = state
  out[#out + 1] = where
end
return {'OK', NOW, out}
