-- One page of the line, for a mirror's load. Bound: each call reads about COUNT
-- elements (ZSCAN's COUNT, plus an HGET of each one's ticket), whatever the line's
-- length; a set still small enough to be packed comes whole, at most a few hundred.
-- The mirror first asks for the 'head' (the id of the stream's last event, the epoch),
-- then pages 'waiting', 'admitted' and 'admissions' until each cursor is '0', and then
-- replays the stream from that id: whatever changed while it paged comes round again.
local part, cursor, count = ARGV[2], ARGV[3], ARGV[4]
local epoch = redis.call('HGET', K_LINE, 'epoch') or ''
if part == 'head' then
  local last = redis.call('XREVRANGE', K_EVENTS, '+', '-', 'COUNT', 1)
  local last_id = '0-0'
  if #last > 0 then last_id = last[1][1] end
  return {'OK', NOW, epoch, last_id, redis.call('HGET', K_LINE, 'first_admission') or ''}
end
local key = ({waiting = K_WAITING, admitted = K_ASEEN, admissions = K_ADMISSIONS})[part]
local page = redis.call('ZSCAN', key, cursor, 'COUNT', count)
local found = page[2]
if part == 'admissions' then return {'OK', NOW, epoch, page[1], found} end
local rows = {}
for i = 1, #found, 2 do
  local packed = redis.call('HGET', K_TICKETS, found[i])
  if packed then
    local t = unpack_ticket(packed)
    local place = ''
    if part == 'waiting' then place = found[i + 1] end
    rows[#rows + 1] = {found[i], t.jti, t.seq, t.iat, tostring(t.exp), place}
  end
end
return {'OK', NOW, epoch, page[1], rows}
