--[[
  submit: create a job and enqueue it, or answer for the job an idempotency key already created.
  One script, so N concurrent submits with one new key create exactly one job and one stream entry,
  and N concurrent submits against the backlog bound or a tenant's quota accept exactly as many as
  it has room for, however many API processes send them.

  KEYS[1]  job hash            {orch}:job:<id>
  KEYS[2]  jobs stream         {orch}:stream
  KEYS[3]  delayed sorted set  {orch}:delayed
  KEYS[4]  tenant's backlog    {orch}:tenant:<tenant>:queued   hash: jobs (not yet final),
                               lastFinalAt, finalEveryMs (see finalize in includes/job.lua)
  KEYS[5]  tenant's rate       {orch}:tenant:<tenant>:rpm      GCRA theoretical arrival time, Unix ms
  KEYS[6]  idempotency hash    {orch}:idem:<tenant>:<key>   (absent when the request carries no key)

  ARGV[1]  job id
  ARGV[2]  request fingerprint (SHA-256 of the normalised request)
  ARGV[3]  idempotency key TTL, ms
  ARGV[4]  backlog bound (Api:MaxQueuedJobs): jobs not yet final, counted as the stream's length
           plus the delayed set's plus the ready sets' (a job waiting in either has no stream entry)
  ARGV[5]  the tenant's MaxQueuedJobs, 0 = none
  ARGV[6]  the tenant's RequestsPerMinute, 0 = none (with N partitions, this partition's share:
           RequestsPerMinute / N, possibly fractional)
  ARGV[7]  the tenant's jobs not yet final in the other partitions (0 with one partition): the
           MaxQueuedJobs check counts them with this partition's
  ARGV[8…] job hash field, value, field, value, … (createdAt and updatedAt are this script's: TIME);
           'tenant' and 'priority' among them place the job in its tenant's ready set

  The job waits in its tenant's ready set (includes/ready.lua) until a worker's dispatch.lua sends
  it into the stream by fair share; it has no stream entry (entryId) until then.

  The tenant's backlog is always counted (so a quota configured later starts from the truth): the
  job carries quotaQueued = 1 until finalize takes it off and decrements, once. The rate is a GCRA
  on Redis's clock (TIME) with a burst of one minute: up to RequestsPerMinute submissions at once,
  then one every 60,000 / RequestsPerMinute ms. A refused submission writes nothing and spends nothing.

  Returns  {'created', jobId, createdAt}      createdAt: Redis's clock (TIME), Unix ms
         | {'replayed', jobId, createdAt, response}   same key, same request: the first answer's
                                job and time, from which the API answers byte for byte the same
                                (answered even over a quota)
                                (a key stored by an older version has no createdAt but the 202
                                body itself, response; the other one is '')
         | {'conflict', jobId}                 same key, other request
         | {'queue-full', queued}              the backlog bound is reached: nothing written
         | {'quota-exceeded', quota, limit, retryAfterMs}   quota 'MaxQueuedJobs' or
                                'RequestsPerMinute'; retryAfterMs: the GCRA's wait, or for the backlog
                                the tenant's recent interval between final transitions: nothing written
         | {'storage-full', error}             Redis is at maxmemory (noeviction): nothing written
]]
--@include clock
--@include job
--@include ready

if #KEYS >= 6 then
  local known = redis.call('HMGET', KEYS[6], 'jobId', 'fingerprint', 'createdAt', 'response')
  if known[1] then
    if known[2] == ARGV[2] then
      return {'replayed', known[1], known[3] or '', known[4] or ''}
    end
    return {'conflict', known[1]}
  end
end

-- Final jobs are deleted from the stream (finish-attempt.lua, claim.lua), and a job that waits in
-- the delayed set or a ready set has no entry there, so the stream's length plus theirs is the
-- number of jobs not yet final: queued, processing or waiting.
local prefix = string.sub(KEYS[2], 1, -(string.len(':stream') + 1))
local queued = redis.call('XLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3]) + readyCount(prefix)
if queued >= tonumber(ARGV[4]) then
  return {'queue-full', queued}
end

-- [tenant quotas] Checked after the replay (a replay creates nothing) and before any write.
local maxQueued, rpm = tonumber(ARGV[5]), tonumber(ARGV[6])
if maxQueued > 0 then
  local backlog = redis.call('HMGET', KEYS[4], 'jobs', 'finalEveryMs')
  if tonumber(backlog[1] or '0') + tonumber(ARGV[7]) >= maxQueued then
    -- Room comes back when one of the tenant's jobs reaches a final state: expected after the
    -- tenant's recent interval between final transitions (5 s while none is known yet).
    return {'quota-exceeded', 'MaxQueuedJobs', maxQueued, math.ceil(tonumber(backlog[2] or '5000'))}
  end
end
local tat, rateNow = 0, 0
if rpm > 0 then
  rateNow = tonumber(nowMs())
  local interval = 60000 / rpm
  tat = math.max(tonumber(redis.call('GET', KEYS[5]) or '0'), rateNow) + interval
  -- Up to a minute ahead of now is allowed (the burst; at least one interval, for a partition's
  -- share below one a minute); the tolerance absorbs float rounding.
  local wait = tat - rateNow - math.max(60000, interval)
  if wait > math.min(1, interval / 2) then
    return {'quota-exceeded', 'RequestsPerMinute', rpm, math.ceil(wait)}
  end
end

-- The ready set's ZADD (in enqueueReady) must stay this script's first write. Redis (7.0, a script
-- without flags) refuses a script's first write command with OOM when the script started above
-- maxmemory, and lets every later write through so as not to stop a script half-way: refused
-- there, nothing is written and the client may re-send with the same idempotency key.
local fields = {unpack(ARGV, 8)}
local tenant, priority = 'default', 'normal'
for i = 1, #fields - 1, 2 do
  if fields[i] == 'tenant' then tenant = fields[i + 1] elseif fields[i] == 'priority' then priority = fields[i + 1] end
end
local now = nowMs()
local added, refused = enqueueReady(prefix, ARGV[1], tenant, priority)
if refused then
  if string.sub(refused, 1, 4) == 'OOM ' then
    return {'storage-full', refused}
  end
  return redis.error_reply(refused)
end

for _, value in ipairs({'createdAt', now, 'updatedAt', now, 'quotaQueued', '1'}) do
  fields[#fields + 1] = value
end
redis.call('HSET', KEYS[1], unpack(fields))

-- [tenant quotas] The job counts until finalize takes quotaQueued off; the rate's TAT expires once past.
if redis.call('HINCRBY', KEYS[4], 'jobs', '1') == 1 then
  -- [index cursors] A tenant going from idle to busy: its jobs index set (and the global) is to be
  -- pruned by expiry (prune-index.lua). Once a busy spell, not once a job.
  local cursors = (string.gsub(KEYS[2], ':stream$', ':index-cursors'))
  redis.call('HSETNX', cursors, tenant, '0')
  redis.call('HSETNX', cursors, '*', '0')
end
if rpm > 0 then
  redis.call('SET', KEYS[5], string.format('%.3f', tat), 'PX', math.ceil(tat - rateNow) + 1000)
end

-- [jobs index] GET /jobs and the jobs page list job ids by creation time, for every tenant and
-- for the job's own (same hash tag, so the same slot), each trimmed to the newest 100,000
-- (JobStore.ListedJobs): bounded, and an id whose job expired is skipped when listed until a
-- worker prunes it (prune-index.lua).
-- The ranks as text: Redis formats each Lua number it is given with snprintf (~0.4 µs).
local OLDER_THAN_LISTED = '-100001' -- ranks 0 … -100,001 go; the newest 100,000 stay
local jobsIndex = (string.gsub(KEYS[2], ':stream$', ':jobs'))
for _, index in ipairs({jobsIndex, jobsIndex .. ':' .. tenant}) do
  redis.call('ZADD', index, now, ARGV[1])
  redis.call('ZREMRANGEBYRANK', index, '0', OLDER_THAN_LISTED)
end

if #KEYS >= 6 then
  redis.call('HSET', KEYS[6], 'jobId', ARGV[1], 'fingerprint', ARGV[2], 'createdAt', now)
  redis.call('PEXPIRE', KEYS[6], ARGV[3])
end
emitStatus(KEYS[1], 'queued', 0, now)

return {'created', ARGV[1], now}
