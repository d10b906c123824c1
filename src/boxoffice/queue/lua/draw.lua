-- The recorded opening draw (ARGV[2] '1' forgets it once the app has kept it).
local drawn_at = redis.call('HGET', K_LINE, 'drawn_at')
local order = redis.call('HGET', K_LINE, 'draw_order')
if ARGV[2] == '1' then redis.call('HDEL', K_LINE, 'draw_order') end
if not drawn_at or not order then return {'OK', NOW, 0} end
return {'OK', NOW, {drawn_at, order}}
