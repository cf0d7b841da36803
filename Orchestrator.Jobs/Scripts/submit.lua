--[[
  submit: create a job and enqueue it, or answer for the job an idempotency key already created.
  One script, so N concurrent submits with one new key create exactly one job and one stream entry,
  and N concurrent submits against the backlog bound accept exactly as many as it has room for.

  KEYS[1]  job hash            {orch}:job:<id>
  KEYS[2]  jobs stream         {orch}:stream
  KEYS[3]  delayed sorted set  {orch}:delayed
  KEYS[4]  idempotency hash    {orch}:idem:<tenant>:<key>   (absent when the request carries no key)

  ARGV[1]  job id
  ARGV[2]  request fingerprint (SHA-256 of the normalised request)
  ARGV[3]  idempotency key TTL, ms
  ARGV[4]  backlog bound (Api:MaxQueuedJobs): jobs not yet final, counted as the stream's length
           plus the delayed set's (a job waiting there has no stream entry)
  ARGV[5…] job hash field, value, field, value, … (createdAt and updatedAt are this script's: TIME)

  Returns  {'created', jobId, createdAt}      createdAt: Redis's clock (TIME), Unix ms
         | {'replayed', jobId, createdAt, response}   same key, same request: the first answer's
                                job and time, from which the API answers byte for byte the same
                                (a key stored by an older version has no createdAt but the 202
                                body itself, response; the other one is '')
         | {'conflict', jobId}                 same key, other request
         | {'queue-full', queued}              the backlog bound is reached: nothing written
         | {'storage-full', error}             Redis is at maxmemory (noeviction): nothing written
]]
--@include clock
--@include job

if #KEYS >= 4 then
  local known = redis.call('HMGET', KEYS[4], 'jobId', 'fingerprint', 'createdAt', 'response')
  if known[1] then
    if known[2] == ARGV[2] then
      return {'replayed', known[1], known[3] or '', known[4] or ''}
    end
    return {'conflict', known[1]}
  end
end

-- Final jobs are deleted from the stream (finish-attempt.lua, claim.lua), and a job that waits in
-- the delayed set has no entry there (finish-attempt.lua, defer.lua), so the stream's length plus
-- the delayed set's is the number of jobs not yet final: queued, processing or waiting.
local queued = redis.call('XLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3])
if queued >= tonumber(ARGV[4]) then
  return {'queue-full', queued}
end

-- XADD must stay this script's first write. Redis (7.0, a script without flags) refuses a script's
-- first write command with OOM when the script started above maxmemory, and lets every later write
-- through so as not to stop a script half-way: refused here, nothing is written and the client may
-- re-send with the same idempotency key. The stream entry goes first also so that the hash is
-- written once with its entryId.
local added = redis.pcall('XADD', KEYS[2], '*', 'jobId', ARGV[1])
if type(added) == 'table' and added.err then
  if string.sub(added.err, 1, 4) == 'OOM ' then
    return {'storage-full', added.err}
  end
  return redis.error_reply(added.err)
end

local now = nowMs()
local fields = {unpack(ARGV, 5)}
for _, value in ipairs({'entryId', added, 'createdAt', now, 'updatedAt', now}) do
  fields[#fields + 1] = value
end
redis.call('HSET', KEYS[1], unpack(fields))

-- [jobs index] GET /jobs and the jobs page list job ids by creation time, for every tenant and
-- for the job's own (same hash tag, so the same slot), each trimmed to the newest LISTED_JOBS
-- (JobStore.ListedJobs): bounded, and an id whose job expired is skipped when listed.
local LISTED_JOBS = 100000
local jobsIndex = (string.gsub(KEYS[2], ':stream$', ':jobs'))
local tenant = redis.call('HGET', KEYS[1], 'tenant') or 'default'
for _, index in ipairs({jobsIndex, jobsIndex .. ':' .. tenant}) do
  redis.call('ZADD', index, now, ARGV[1])
  redis.call('ZREMRANGEBYRANK', index, 0, -(LISTED_JOBS + 1))
end

if #KEYS >= 4 then
  redis.call('HSET', KEYS[4], 'jobId', ARGV[1], 'fingerprint', ARGV[2], 'createdAt', now)
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
emitStatus(KEYS[1], 'queued', 0, now)

return {'created', ARGV[1], now}
