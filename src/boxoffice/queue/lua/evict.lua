-- The operator removes fans from the line: ARGV[2] is 'users' with ARGV[3..] their
-- ids, or 'address' with ARGV[3] the address whose every counted fan goes. The
-- answer is the users removed; their tokens are not live from now on.
local users = {}
if ARGV[2] == 'address' then
  local addr = ARGV[3]
  for _, member in ipairs(redis.call('ZRANGEBYLEX', K_BYADDR, '[' .. addr .. '|', '[' .. addr .. '|\255')) do
    users[#users + 1] = string.sub(member, #addr + 2)
  end
else
  for i = 3, #ARGV do users[#users + 1] = ARGV[i] end
end
local removed = {}
for _, user in ipairs(users) do
  local packed = redis.call('HGET', K_TICKETS, user)
  if packed then
    remove(user, unpack_ticket(packed))
    removed[#removed + 1] = user
  end
end
if #removed > 0 then advance() end
return {'OK', NOW, removed}
