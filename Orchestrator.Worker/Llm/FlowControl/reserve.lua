--[[
  reserve: before a call to a deployment, take one request and the call's estimated tokens from
  its limits, and a concurrency permit, all or nothing. Clock: Redis TIME, one clock for the fleet.
  Rate limits by GCRA (docs/design/job-store.md "Flow control"): a theoretical arrival time (TAT)
  per limit, advanced by cost × 60,000 / limit ms; refused when it would run more than the burst
  ahead of now. Permits are members of a sorted set scored by lease expiry, so a dead worker's
  permit lapses by itself.

  Many calls' reservations in one script (a worker's calls starting together, group commit): each
  as if reserved alone, in order, on one clock reading. Per reservation i (0-based), 5 keys from
  KEYS[5i+1] and 7 arguments from ARGV[7i+1], as below for i = 0:

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

  Returns  a pair per reservation, in order: code, value:
           {0, paced}        reserved (and the permit taken when bounded); paced adds 1 when the
                             tokens were taken from a tokens limit (configured or learned) and 2
                             when the request was from a requests limit. Without a tokens limit
                             only a permit, if taken, needs settle.lua; 0 with no permit either
                             (a deployment without limits, cooling down from nothing) lets the
                             worker reuse that reading for a moment (ClearReadings.ReuseFor)
         | {1, waitMs}       the deployment is cooling down after a 429
         | {2, waitMs}       the requests or tokens limit is reached; try again after waitMs
         | {3, waitMs}       every permit is taken; try again after waitMs
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- One reservation: keys and argv are its 5 keys and 7 arguments (KEYS[1..5], ARGV[1..7] above).
local function reserve(keys, argv)
  local notBefore = tonumber(redis.call('GET', keys[1]) or '0')
  if notBefore > now then
    return 1, notBefore - now
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

  local rTat, rWait, tTat, tWait = 0, 0, 0, 0
  if rpm > 0 then rTat, rWait = next_tat(keys[2], rpm, 1) end
  if tpm > 0 then tTat, tWait = next_tat(keys[3], tpm, cost) end
  local wait = math.max(rWait, tWait)
  if wait > 0 then
    return 2, math.ceil(wait)
  end

  local maxConcurrency = tonumber(argv[5])
  if maxConcurrency > 0 then
    redis.call('ZREMRANGEBYSCORE', keys[4], '-inf', now)
    if redis.call('ZCARD', keys[4]) >= maxConcurrency then
      local first = redis.call('ZRANGE', keys[4], 0, 0, 'WITHSCORES')
      -- Poll: a permit usually comes back when a call ends, long before the earliest lease lapses.
      return 3, math.max(1, math.min(100, tonumber(first[2]) - now))
    end
    redis.call('ZADD', keys[4], now + tonumber(argv[7]), argv[6])
    redis.call('PEXPIRE', keys[4], tonumber(argv[7]) * 2)
  end

  -- The TATs expire once they are in the past: an idle deployment keeps no keys.
  if rpm > 0 then redis.call('SET', keys[2], string.format('%.3f', rTat), 'PX', math.ceil(rTat - now) + 1000) end
  if tpm > 0 then redis.call('SET', keys[3], string.format('%.3f', tTat), 'PX', math.ceil(tTat - now) + 1000) end
  return 0, (tpm > 0 and 1 or 0) + (rpm > 0 and 2 or 0)
end

local reply = {}
for i = 0, #ARGV / 7 - 1 do
  local code, value = reserve({KEYS[5*i+1], KEYS[5*i+2], KEYS[5*i+3], KEYS[5*i+4], KEYS[5*i+5]},
    {ARGV[7*i+1], ARGV[7*i+2], ARGV[7*i+3], ARGV[7*i+4], ARGV[7*i+5], ARGV[7*i+6], ARGV[7*i+7]})
  reply[2*i+1] = code
  reply[2*i+2] = value
end
return reply
