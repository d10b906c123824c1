-- The recorded opening draw, a page at a time: ARGV[2] the offset of the first entrant
-- and ARGV[3] how many (a page: its bound), in drawn order; or ARGV[2] 'forget' once the
-- app has kept it all. Answers 0 when there is none to read.
local drawn_at = redis.call('HGET', K_LINE, 'drawn_at')
if not drawn_at or redis.call('HGET', K_LINE, 'draw_kept') == '1' then return {'OK', NOW, 0} end
if ARGV[2] == 'forget' then
  redis.call('HSET', K_LINE, 'draw_kept', '1')
  redis.call('UNLINK', K_ENTRANTS)
  return {'OK', NOW, 0}
end
local first = tonumber(ARGV[2])
return {'OK', NOW, {drawn_at, redis.call('ZRANGE', K_ENTRANTS, first, first + tonumber(ARGV[3]) - 1)}}
