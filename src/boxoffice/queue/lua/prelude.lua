-- Shared by every step of a line (see scripts.py). One line lives in nine keys
-- that share a hash tag, so a Redis Cluster keeps each line on one shard:
local K_LINE, K_TICKETS, K_WAITING, K_WSEEN, K_ASEEN, K_ADMISSIONS, K_EVENTS =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local K_PLACES, K_BYADDR, K_ENTRANTS = KEYS[8], KEYS[9], KEYS[10]
-- K_LINE      hash: the rules, the arrival counter, the opening draw, the line's epoch
-- K_TICKETS   hash: user -> 'jti|seq|issued at|token expiry|address'
-- K_WAITING   zset: user -> place (a draw rank in [0, 1) or an arrival number)
-- K_WSEEN     zset: waiting user -> last seen;  K_ASEEN: admitted user -> last seen
-- K_ADMISSIONS zset: 'user:seq' -> when admitted, over the last window
-- K_EVENTS    stream: every change, tailed by each instance's mirror
-- K_PLACES    zset: address -> live places it holds (a ticket made with no address
--             is not counted)
-- K_BYADDR    zset, all scores 0: 'address|user' per counted ticket, so the fans of
--             one address are one ZRANGEBYLEX away
-- K_ENTRANTS  zset: user -> draw rank, of each fan in the pre-queue; from the opening
--             on, fixed: the draw's record, read out by the app a page at a time
--
-- Every step runs inside Redis, holding every other client meanwhile, so each is
-- bounded whatever the line's length: O(log n) per ticket it touches, and a step
-- touches the tickets it was given, plus at most SWEEP_MOST silent ones of each kind
-- and ADMIT_MOST admissions (advance). Nothing reads a whole set: the mirror's load
-- and the draw's record are read a page at a time (snapshot.lua, draw.lua), and what
-- a reset or a sold-out line clears is UNLINKed (freed off Redis's main thread).
local WINDOW = tonumber(ARGV[1])
local EVENTS_MAXLEN = 500000
local SWEEP_MOST, ADMIT_MOST = 500, 500  -- ADMIT_MOST: model.ADMIT_MOST

local R = redis.call('HMGET', K_LINE, 'capacity', 'per_minute', 'paused', 'waiter_timeout',
  'admitted_idle', 'opens_at', 'seed', 'sold_out_at', 'clock_now', 'drawn',
  'places_per_address')
-- A line without its rules was never seeded or was lost with the store's data: write
-- nothing and say so, so the app seeds it and tries again.
if not R[1] then return {'NO_LINE'} end

-- The line's one clock: Redis's. Only tests set 'clock_now', to move it by hand.
local now = tonumber(R[9])
if not now then
  local T = redis.call('TIME')
  now = tonumber(T[1]) + tonumber(T[2]) / 1000000
end
local NOW = string.format('%.6f', now)
local capacity, per_minute, paused = tonumber(R[1]), tonumber(R[2]), R[3] == '1'
local waiter_timeout, admitted_idle = tonumber(R[4]), tonumber(R[5])
local opens_at, seed, sold_out_at = tonumber(R[6]), R[7] or '', tonumber(R[8])
local places_per_address = tonumber(R[11])

local function event(...)
  redis.call('XADD', K_EVENTS, 'MAXLEN', '~', EVENTS_MAXLEN, '*', ...)
end

-- A ticket made before addresses were kept has none ('').
local function unpack_ticket(packed)
  local jti, seq, iat, exp, rest = string.match(packed, '^([^|]+)|(%d+)|(%d+)|(%d+)(.*)$')
  return {jti = jti, seq = seq, iat = iat, exp = tonumber(exp), addr = string.sub(rest, 2)}
end

local function ticket_of(user)
  local packed = redis.call('HGET', K_TICKETS, user)
  if packed then return unpack_ticket(packed) end
  return {seq = '0', addr = ''}
end

-- The live places an address holds, and the bookkeeping of one more or one less.
local function places_of(addr)
  return tonumber(redis.call('ZSCORE', K_PLACES, addr) or '0')
end

local function count_place(user, addr)
  if addr == '' then return end
  redis.call('ZINCRBY', K_PLACES, 1, addr)
  redis.call('ZADD', K_BYADDR, 0, addr .. '|' .. user)
end

local function uncount_place(user, addr)
  if addr == '' then return end
  if redis.call('ZINCRBY', K_PLACES, -1, addr) + 0 <= 0 then redis.call('ZREM', K_PLACES, addr) end
  redis.call('ZREM', K_BYADDR, addr .. '|' .. user)
end

-- t: the ticket as unpack_ticket (or ticket_of) reads it.
local function remove(user, t)
  event('e', 'r', 'u', user, 's', t.seq)
  if R[10] ~= '1' then redis.call('ZREM', K_ENTRANTS, user) end  -- left before the draw
  redis.call('HDEL', K_TICKETS, user)
  redis.call('ZREM', K_WAITING, user)
  redis.call('ZREM', K_WSEEN, user)
  redis.call('ZREM', K_ASEEN, user)
  uncount_place(user, t.addr)
end

local function is_open()
  return not opens_at or now >= opens_at
end

-- model.draw_rank: the first 52 bits of SHA-1(seed:user), as a fraction.
local function draw_rank(user)
  return tonumber(string.sub(redis.sha1hex(seed .. ':' .. user), 1, 13), 16) / 4503599627370496
end

-- model.seen_at: a pre-queue's liveness clock starts at the opening.
local function seen_at()
  if is_open() then return now end
  return math.max(now, opens_at)
end

-- The first step after the opening records the pre-queue's order (fixed by the seed):
-- K_ENTRANTS, kept as each fan joined and left, is fixed from now on.
local function record_draw()
  if R[10] == '1' or not is_open() then return end
  R[10] = '1'
  if not opens_at then
    redis.call('HSET', K_LINE, 'drawn', '1')
    return
  end
  redis.call('HSET', K_LINE, 'drawn', '1', 'drawn_at', NOW)
end

local function drop_stale(seen_key, timeout)
  local stale = redis.call('ZRANGEBYSCORE', seen_key, '-inf', now - timeout, 'LIMIT', 0,
    SWEEP_MOST)
  for _, user in ipairs(stale) do remove(user, ticket_of(user)) end
end

-- model.sold_out_lapsed: a sold-out line lets every token lapse one waiter timeout on.
local function purge_sold_out()
  if sold_out_at and now >= sold_out_at + waiter_timeout
      and redis.call('EXISTS', K_TICKETS) == 1 then
    -- UNLINK: a long line's sets are freed off Redis's main thread.
    redis.call('UNLINK', K_TICKETS, K_WAITING, K_WSEEN, K_ASEEN, K_PLACES, K_BYADDR)
    event('e', 'c')
  end
end

-- Drop the silent, lapse the idle, admit from the head (model.admissible); at most
-- ADMIT_MOST at once: the rest at the next step (every join, gate and tick is one).
local function advance()
  drop_stale(K_WSEEN, waiter_timeout)
  drop_stale(K_ASEEN, admitted_idle)
  purge_sold_out()
  redis.call('ZREMRANGEBYSCORE', K_ADMISSIONS, '-inf', now - WINDOW)
  record_draw()
  local waiting = redis.call('ZCARD', K_WAITING)
  local admitted = redis.call('ZCARD', K_ASEEN)
  local recent = redis.call('ZCARD', K_ADMISSIONS)
  local n = 0
  if not paused and not sold_out_at and is_open() then
    n = math.max(0, math.min(waiting, capacity - admitted, per_minute - recent, ADMIT_MOST))
  end
  if n > 0 then
    local popped = redis.call('ZPOPMIN', K_WAITING, n)
    for i = 1, #popped, 2 do
      local user = popped[i]
      local seq = ticket_of(user).seq
      redis.call('ZREM', K_WSEEN, user)
      redis.call('ZADD', K_ASEEN, now, user)
      redis.call('ZADD', K_ADMISSIONS, now, user .. ':' .. seq)
      event('e', 'a', 'u', user, 's', seq, 't', NOW)
    end
    redis.call('HSETNX', K_LINE, 'first_admission', NOW)
    waiting, admitted, recent = waiting - n, admitted + n, recent + n
  end
  return {waiting, admitted, recent, redis.call('HGET', K_LINE, 'first_admission') or ''}
end

-- The user's ticket if it is live: not expired, its holder not silent (or idle) past
-- the timeout. A ticket found dead is removed on the spot, sweep or no sweep.
local function live(user)
  local packed = redis.call('HGET', K_TICKETS, user)
  if not packed then return nil end
  local t = unpack_ticket(packed)
  local last, timeout = redis.call('ZSCORE', K_ASEEN, user), admitted_idle
  if last then
    t.admitted = true
  else
    last, timeout = redis.call('ZSCORE', K_WSEEN, user), waiter_timeout
  end
  if t.exp <= now or not last or now - tonumber(last) >= timeout then
    remove(user, t)
    return nil
  end
  t.last = tonumber(last)
  return t
end

local function see(user, t)
  if t.admitted then
    redis.call('ZADD', K_ASEEN, 'GT', now, user)
    t.last = math.max(t.last, now)
  else
    local at = seen_at()
    redis.call('ZADD', K_WSEEN, 'GT', at, user)
    t.last = math.max(t.last, at)
  end
end

-- model.ticket_state
local function state_of(t)
  if sold_out_at then return 'SOLD_OUT' end
  if t.admitted then return 'ADMITTED' end
  if not is_open() then return 'PRE_QUEUE' end
  return 'WAITING'
end

-- Live waiters ahead (ZRANK); the app turns it into what the fan is shown.
local function rank(user, t)
  if t.admitted then return 0 end
  return redis.call('ZRANK', K_WAITING, user) or 0
end

-- A ticket as scripts.decode_ticket reads it.
local function ticket_reply(user, t, created)
  return {t.jti, t.seq, t.iat, tostring(t.exp), state_of(t), rank(user, t),
          string.format('%.6f', t.last), created}
end
