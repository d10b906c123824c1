-- The addresses holding the most live places in the line: ARGV[2] how many.
return {'OK', NOW, redis.call('ZRANGE', K_PLACES, '+inf', 1, 'BYSCORE', 'REV', 'LIMIT', 0,
  tonumber(ARGV[2]), 'WITHSCORES')}
