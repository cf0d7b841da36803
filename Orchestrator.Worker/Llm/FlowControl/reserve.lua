--[[
  reserve: before a call to a deployment, take one request and the call's estimated tokens from
  its limits, and a concurrency permit, all or nothing. Clock: Redis TIME, one clock for the fleet.
  Rate limits by GCRA (docs/design/job-store.md "Flow control"): a theoretical arrival time (TAT)
  per limit, advanced by cost × 60,000 / limit ms; refused when it would run more than the burst
  ahead of now. Permits are members of a sorted set scored by lease expiry, so a dead worker's
  permit lapses by itself.

  Many calls' reservations in one script (a worker's calls starting together, group commit): each
  as if reserved alone, in order, on one clock reading. Per reservation i (0-based), 5 keys from
  KEYS[5i+1] and 9 arguments from ARGV[9i+1], as below for i = 0:

  KEYS[1]  cooldown         {orch}:llm:<provider>:cooldown   not-before time, Unix ms (string)
  KEYS[2]  requests TAT     {orch}:llm:<provider>:rpm        ms (string)
  KEYS[3]  tokens TAT       {orch}:llm:<provider>:tpm        ms (string)
  KEYS[4]  permits          {orch}:llm:<provider>:permits    sorted set: permit id -> expiry, Unix ms
  KEYS[5]  learned limits   {orch}:llm:<provider>:learned    hash: rpm, tpm (from 429s; see cooldown.lua)

  ARGV[1]  requests per minute, 0 = unknown (then the learned one, if any)
  ARGV[2]  tokens per minute, 0 = unknown (likewise)
  ARGV[3]  estimated tokens of this call         ARGV[4]  burst, ms at the limit's rate
  ARGV[5]  max concurrency, 0 = unbounded        ARGV[6]  permit id (unique per call)
  ARGV[7]  permit lease, ms
  ARGV[8]  the call's booking, its slot's time '<T>' (Unix ms) as an earlier reservation answered it, or ''
  ARGV[9]  how far ahead a wait for the requests limit is booked, ms; 0 = never (the wait is answered alone)

  Bookings (docs/design/job-store.md "Booked slots"): a wait for the requests limit (not for the
  tokens limit, whose charge is an estimate) of at most ARGV[9] is booked: both limits are charged
  as if the call were admitted, so the callers after it wait one slot longer, and the call goes at
  T = now + wait without asking the limits again. Presented from T - 20 ms to T + burst, a booking skips the rate check (the cooldown and
  the permits are checked as for any call, and answer it back: it stands); earlier, it answers the
  wait left and stands; later, the call reserves afresh (its charge is lost: a slot goes unused).

  Returns  a triple per reservation, in order: code, value, booking:
           {0, paced, ''}    reserved (and the permit taken when bounded); paced adds 1 when the
                             tokens were taken from a tokens limit (configured or learned) and 2
                             when the request was from a requests limit. Without a tokens limit
                             only a permit, if taken, needs settle.lua; 0 with no permit either
                             (a deployment without limits, cooling down from nothing) lets the
                             worker reuse that reading for a moment (ClearReadings.ReuseFor)
         | {1, waitMs, b}    the deployment is cooling down after a 429 (b: the booking presented, which stands)
         | {2, waitMs, b}    the requests or tokens limit is reached; try again after waitMs (b: the
                             booking presented, when it is still early for it; else '')
         | {3, waitMs, b}    every permit is taken; try again after waitMs (b: the booking presented, still good)
         | {4, waitMs, b}    booked: the call goes after waitMs with booking b
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- One reservation: keys and argv are its 5 keys and 9 arguments (KEYS[1..5], ARGV[1..9] above).
local function reserve(keys, argv)
  local booking, horizon = argv[8], tonumber(argv[9])
  local notBefore = tonumber(redis.call('GET', keys[1]) or '0')
  if notBefore > now then
    -- A booking outlives a cooldown: its charge is in the TATs, which the cooldown only raises.
    return 1, notBefore - now, booking
  end

  local rpm, tpm, cost, burst = tonumber(argv[1]), tonumber(argv[2]), tonumber(argv[3]), tonumber(argv[4])
  if rpm == 0 or tpm == 0 then
    local learned = redis.call('HMGET', keys[5], 'rpm', 'tpm')
    if rpm == 0 then rpm = tonumber(learned[1] or '0') end
    if tpm == 0 then tpm = tonumber(learned[2] or '0') end
  end
  local function next_tat(key, limit, units)
    local interval = 60000 / limit
    local tat = math.max(tonumber(redis.call('GET', key) or '0'), now) + units * interval
    -- A single call bigger than the burst still passes once the limiter is idle.
    local wait = tat - now - math.max(burst, units * interval)
    return tat, wait
  end
  local function charge(rTat, tTat)
    -- The TATs expire once they are in the past: an idle deployment keeps no keys.
    if rpm > 0 then redis.call('SET', keys[2], string.format('%.3f', rTat), 'PX', math.ceil(rTat - now) + 1000) end
    if tpm > 0 then redis.call('SET', keys[3], string.format('%.3f', tTat), 'PX', math.ceil(tTat - now) + 1000) end
  end

  -- A booking due now skips the limits: it charged them when it was made.
  local booked = false
  local at = tonumber(string.match(booking, '^(%d+)$') or '')
  if at then
    if at - now > 20 then
      return 2, at - now, booking
    end
    booked = now - at <= burst
  end

  local rTat, rWait, tTat, tWait = 0, 0, 0, 0
  if not booked then
    if rpm > 0 then rTat, rWait = next_tat(keys[2], rpm, 1) end
    if tpm > 0 then tTat, tWait = next_tat(keys[3], tpm, cost) end
    local wait = math.max(rWait, tWait)
    if wait > 0 then
      -- Only a wait for the requests limit is booked: a tokens limit charges the call's estimate,
      -- and what its settlement gives back would go unused between slots booked after it.
      if wait > horizon or tWait >= rWait then
        return 2, math.ceil(wait), ''
      end
      -- Booked: charged now, as if admitted; the call goes at its slot without asking again.
      charge(rTat, tTat)
      return 4, math.ceil(wait), string.format('%d', now + math.ceil(wait))
    end
  end

  local maxConcurrency = tonumber(argv[5])
  if maxConcurrency > 0 then
    redis.call('ZREMRANGEBYSCORE', keys[4], '-inf', now)
    if redis.call('ZCARD', keys[4]) >= maxConcurrency then
      local first = redis.call('ZRANGE', keys[4], 0, 0, 'WITHSCORES')
      -- Poll: a permit usually comes back when a call ends, long before the earliest lease lapses.
      return 3, math.max(1, math.min(100, tonumber(first[2]) - now)), booked and booking or ''
    end
    redis.call('ZADD', keys[4], now + tonumber(argv[7]), argv[6])
    redis.call('PEXPIRE', keys[4], tonumber(argv[7]) * 2)
  end

  if not booked then
    charge(rTat, tTat)
  end
  return 0, (tpm > 0 and 1 or 0) + (rpm > 0 and 2 or 0), ''
end

local reply = {}
for i = 0, #ARGV / 9 - 1 do
  local k, a = {}, {}
  for j = 1, 5 do k[j] = KEYS[5*i+j] end
  for j = 1, 9 do a[j] = ARGV[9*i+j] end
  local code, value, booking = reserve(k, a)
  reply[3*i+1] = code
  reply[3*i+2] = value
  reply[3*i+3] = booking
end
return reply
