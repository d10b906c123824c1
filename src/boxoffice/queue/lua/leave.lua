-- Fans leave (or end visits by paying), every one asking at this instant: ARGV[2..]
-- are (user, jti) pairs; the answer is 1 per pair that left, 0 when its ticket was
-- not live. The line moves on once, after them all.
local out, left = {}, false
for i = 2, #ARGV, 2 do
  local user, jti = ARGV[i], ARGV[i + 1]
  local t = live(user)
  if t and t.jti == jti then
    remove(user, t.seq)
    out[#out + 1] = 1
    left = true
  else
    out[#out + 1] = 0
  end
end
if left then advance() end
return {'OK', NOW, out}
