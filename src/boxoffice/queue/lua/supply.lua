-- What is left to sell: ARGV[2] seats left ('' for unknown), ARGV[3] '1' when every
-- seat is sold (the line closes, from the first time it is said), '0' when not.
if ARGV[2] == '' then
  redis.call('HDEL', K_LINE, 'seats_left')
else
  redis.call('HSET', K_LINE, 'seats_left', ARGV[2])
end
if ARGV[3] == '1' then
  redis.call('HSETNX', K_LINE, 'sold_out_at', NOW)
else
  redis.call('HDEL', K_LINE, 'sold_out_at')
end
return {'OK', NOW, redis.call('HGET', K_LINE, 'sold_out_at') or ''}
