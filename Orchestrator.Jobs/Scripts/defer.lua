--[[
  defer: a job met a wait for its deployment before its LLM call (a 429 cooldown, the fleet's
  request or token rate, its concurrency permits, or an open circuit with no usable fallback) that
  is longer than the worker should hold it (Worker:MaxInProcessDelay). The attempt that was started
  for the call is taken back: no call went out, so no attempt is spent. The job leaves the ready
  path until the wait is over (entry acknowledged and deleted, lease dropped, `ZADD delayed`), so
  it holds no worker slot and no lease meanwhile; promote.lua gives it a new entry when it is due.

  Its status goes back to what it was before the attempt started: 'queued' when no attempt has
  run yet, else 'retrying' (the statuses clients know; nextAttemptAt says when it goes on), and
  says so in the job's events. A job whose cancel was requested meanwhile (cancel.lua flags a
  processing job) ends 'canceled' here instead, its attempt taken back all the same: parked, it
  would have stayed 'queued' or 'retrying' for the whole wait, until the claim after it.
  rateLimitWaitMs, the job's total wait for deployments so far, is stored so that the bound
  Llm:MaxRateLimitWait holds across workers: the next worker starts from it. placeAt (its
  submission time, µs) is where promote.lua puts it back in its tenant's ready set: a job that
  waited for capacity goes on before the tenant's later jobs, not behind all that came meanwhile.

  KEYS[1]  job hash            KEYS[2]  job history list (earlier jobs: includes/job.lua [history])
  KEYS[3]  jobs stream         KEYS[4]  dead-letter sorted set (a job set aside as corrupt goes
                               there, and to KEYS[4] .. ':' .. tenant)
  KEYS[5]  delayed sorted set

  ARGV[1]  lease token         ARGV[2]  the attempt started for the call (the job's attempts)
  ARGV[3]  the wait, ms (due = now + wait, now from Redis's clock: TIME)
  ARGV[4]  the job's total wait for deployments including this one, ms (rateLimitWaitMs)
  ARGV[5]  consumer group      ARGV[6]  the job's stream entry id
  ARGV[7]  the slot the wait booked with a deployment, '<slot>:<provider>', or '': kept as
           booking = '<attempt>:<slot>:<provider>' (the attempt taken back, which runs again on it),
           which a worker that claims the job presents only for that attempt

  Re-sent: identified by lease token and attempt, kept in lastDefer (with a '!' when it canceled
  the job). A call that already applied answers as it did and changes nothing (also after another
  worker took the job up again).

  Returns  1 deferred
         | 2 canceled instead: its cancel was requested
         | 0 stale: the caller no longer holds the lease, or the job is not running that attempt
         | {'corrupt', why}: the job's history could not be read; the job was set aside
]]
local job, history, stream, deadLetters, delayed = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
--@include clock
--@include job

local token, attempt, wait, waited = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local group, entryId = ARGV[5], ARGV[6]
local now = tonumber(nowMs())

local function defer()
  local fields = redis.call('HMGET', job, 'lease', 'status', 'attempts', 'lastDefer', 'id', 'aloneAttempt', 'tenant', attemptField(attempt), 'createdAt',
    'cancelRequested', 'retentionMs')
  local identity = token .. ':' .. attempt
  if fields[4] == identity then
    return 1
  end
  if fields[4] == identity .. '!' then
    return 2
  end
  if fields[1] ~= token or fields[2] ~= 'processing' or fields[3] ~= attempt then
    return 0
  end

  -- Read and checked before the first write: the last history entry is the attempt to take back.
  local n = tonumber(attempt)
  local stored, listed = readAttempt(history, n, fields[8])
  if not stored then
    error('attempt ' .. attempt .. ' has no history entry')
  end
  local last = cjson.decode(stored)
  if last.attempt ~= n or last.outcome ~= nil then
    error('the last history entry is not attempt ' .. attempt .. ' running')
  end

  local due = now + wait
  local status = n > 1 and 'retrying' or 'queued'
  if listed then
    redis.call('RPOP', history)
  else
    redis.call('HDEL', job, attemptField(n))
  end
  local jobId = fields[5] or jobIdOf(job)
  if fields[10] == '1' then
    -- Its cancel was requested while the attempt waited: canceled now, with the attempt taken back.
    local at = string.format('%d', now)
    redis.call('HSET', job, 'status', 'canceled', 'attempts', n - 1, 'completedAt', at, 'updatedAt', at, 'lastDefer', identity .. '!')
    redis.call('HDEL', job, 'lease', 'leaseOwner', 'nextAttemptAt', 'booking', 'aloneAttempt')
    if n == 1 then
      redis.call('HDEL', job, 'firstAttemptAt')
    end
    finalize(stream, group, deadLetters, job, history, jobId, entryId, fields[11], false, at, fields[7])
    return 2
  end
  emitStatus(job, status, n - 1, string.format('%d', now))
  redis.call('HSET', job, 'status', status, 'attempts', n - 1,
    'rateLimitWaitMs', waited, 'updatedAt', string.format('%d', now), 'lastDefer', identity)
  if ARGV[7] ~= '' then
    redis.call('HSET', job, 'booking', attempt .. ':' .. ARGV[7])
  else
    redis.call('HDEL', job, 'booking')
  end
  if tonumber(fields[9]) then
    redis.call('HSET', job, 'placeAt', string.format('%d', tonumber(fields[9]) * 1000))
  end
  if n == 1 then
    -- No attempt has run: the job's first attempt is still to come.
    redis.call('HDEL', job, 'firstAttemptAt')
  end
  if fields[6] == attempt then
    redis.call('HDEL', job, 'aloneAttempt')
  end
  -- [tenant permits] The attempt is taken back: so is its tenant's permit.
  returnPermit(job, jobId, fields[7])
  toDelayed(stream, group, delayed, job, entryId, jobId, due)
  return 1
end

return isolated(stream, group, deadLetters, job, history, entryId, string.format('%d', now), defer)
