#!lua flags=allow-oom
-- allow-oom: runs above maxmemory too, so that what workers hold ends (recorded, canceled, handed
-- back) with Redis full: small writes that make jobs final (they then expire) or give them back.
--[[
  finish-attempt: record how attempts ended and move each job on, any number of jobs in one call
  (the worker commits the outcomes that are ready together). Each job is its own compare-and-set:
  only the lease holder, for the attempt that is running, with the job still 'processing'. A stale
  worker (paused past its lease, then resumed) gets 0 for that job and changes nothing there. A
  job whose step fails (a history entry that does not parse) is set aside without touching the others.

  KEYS[1]  jobs stream         KEYS[2]  dead-letter sorted set (all tenants); the tenant's own
                               set is KEYS[2] .. ':' .. tenant (same hash tag), written beside it
  KEYS[3]  delayed sorted set (job ids waiting, score = due time)
  KEYS[2 + 2i], KEYS[3 + 2i]   job i's hash and history list (the list: earlier jobs only, includes/job.lua [history]) (i = 1 … n)

  ARGV[1]  consumer group
  ARGV[2 + 11(i-1)] … ARGV[12 + 11(i-1)]   job i's eleven values:
    lease token, attempt number, attempt outcome (succeeded, transient-failure, …),
    next status (completed | retrying | failed | canceled), stream entry id, result JSON or '',
    error JSON or '', retry delay ms or '', '1' when a retrying job waits in the delayed set
    (the delay is longer than Worker:MaxInProcessDelay) or '' when its worker keeps it and waits,
    and the result's model and usage as members of the history entry ('"model":…,"usage":{…}',
    JSON the caller serialised; '' without a result), so the result need not be parsed here,
    and the last text the attempt streamed that is not in the job's events yet, or '': appended
    as a 'delta' event before the final one (what append-delta.lua would have written), so a
    streaming job's end costs one script call, not two

  A retrying job moved to the delayed set leaves the ready path: its entry is acknowledged and
  deleted, its lease dropped, and promote.lua gives it a new entry when nextAttemptAt is due. It
  holds no worker slot and no lease while it waits.

  Times (endedAt, completedAt, nextAttemptAt = now + retry delay, …) are Redis's own (TIME).

  Re-sent: the call is identified by lease token, attempt, outcome and next status, kept in
  lastFinish, and carries the same result or error. One that already applied answers 1 again and
  changes nothing (its result stays stored); any other call for the same attempt is stale (0).

  Cancellation (issue 19): 'canceled' is recorded only for a job whose cancel was requested
  (cancelRequested, set by cancel.lua); such a job that an attempt would leave 'retrying' becomes
  'canceled' instead (no further attempt). 'completed' and 'failed' stand as sent.

  Returns one reply per job, in order: 1 when recorded, 2 when recorded and a 'retrying' sent for a
  job whose cancel was requested made it 'canceled' instead (its worker stops and counts the cancel),
  0 when the caller's lease or attempt is stale, {'corrupt', why} when the job was set aside.
]]
local stream, deadLetters, delayed = KEYS[1], KEYS[2], KEYS[3]
--@include clock
--@include job

local group, now = ARGV[1], nowMs()
-- One acknowledgement and one count of each tenant's backlog for the whole call (includes/job.lua).
batchWrites(stream, group, now)

local function finish(job, history, token, attempt, outcome, nextStatus, entryId, result, err, retryDelay, toDelayedSet, usage, delta)
  local fields = redis.call('HMGET', job, 'lease', 'status', 'attempts', 'retentionMs', 'id', 'lastFinish', 'result', 'error', 'tenant',
    'cancelRequested', 'callbackUrl', 'quotaQueued', 'permit', 'listHistory', attemptField(attempt))
  local identity = token .. ':' .. attempt .. ':' .. outcome .. ':' .. nextStatus
  -- A retry that canceled the job instead is kept as identity .. '!': a repeat answers 2 again.
  if fields[6] == identity or fields[6] == identity .. '!' then
    -- The same call again only if it carries the same result or error; another one is stale.
    local same = (nextStatus == 'completed' and fields[7] == result) or (nextStatus ~= 'completed' and fields[8] == err)
    return same and (fields[6] == identity and 1 or 2) or 0
  end
  if fields[1] ~= token or fields[2] ~= 'processing' or fields[3] ~= attempt then
    return 0
  end
  local canceling = fields[10] == '1'
  if nextStatus == 'canceled' and not canceling then
    return 0
  end

  -- Read and checked before the first write: a job that fails here is set aside unchanged.
  local stored, listed = readAttempt(history, tonumber(attempt), fields[15])
  if not stored then
    error('attempt ' .. attempt .. ' has no history entry')
  end
  local closed
  if err == '' and retryDelay == '' and string.find(stored, '^{"attempt":%d+,"startedAt":%d+}$') and string.find(outcome, '^[%a%-]+$') then
    -- The entry as claim.lua or start-attempt.lua wrote it, closed by appending its members: the
    -- same JSON as the general case below, without parsing and encoding it (most attempts end so).
    closed = string.sub(stored, 1, -2) .. ',"endedAt":' .. now .. ',"outcome":"' .. outcome .. '"' ..
      (usage ~= '' and (',' .. usage) or '') .. '}'
  else
    local entry = cjson.decode(stored)
    entry.endedAt = tonumber(now)
    entry.outcome = outcome
    if err ~= '' then entry.error = cjson.decode(err) end
    if retryDelay ~= '' then entry.retryDelayMs = tonumber(retryDelay) end
    if result ~= '' then
      -- The attempt's usage and cost, in the history's own names (a job's totals add these up).
      local r = cjson.decode(result)
      entry.model = r.model
      entry.usage = {inputTokens = r.usage.promptTokens, outputTokens = r.usage.completionTokens, cost = r.cost or 0}
    end
    closed = cjson.encode(entry)
  end
  if delta ~= '' then
    emitDelta(job, attempt, delta)
  end
  -- The closed entry goes where it was read: written with the job's state below, or in its list.
  local entry = {attemptField(attempt), closed}
  if listed then
    redis.call('LSET', history, tonumber(attempt) - 1, closed)
    entry = {}
  end
  -- The attempt ended without a crash: the job is no longer a suspect, and its tenant permit goes
  -- back (here for a retry; finalize returns it on the way to a final state).
  if nextStatus == 'retrying' and not canceling then
    redis.call('HDEL', job, 'suspect')
    returnPermit(job, fields[5] or jobIdOf(job), fields[9], true)
    emitStatus(job, 'retrying', attempt, now)
    local due = tonumber(now) + tonumber(retryDelay)
    redis.call('HSET', job, 'status', 'retrying', 'nextAttemptAt', string.format('%d', due),
      'error', err, 'updatedAt', now, 'lastFinish', identity, unpack(entry))
    if toDelayedSet == '1' then
      toDelayed(stream, group, delayed, job, entryId, fields[5] or jobIdOf(job), due)
    end
    return 1
  end

  -- The final state in one write and one delete; the backlog flag and the permit go with the
  -- delete (read above), so finalize need not look at the job again.
  local status, finalError = 'failed', err
  if nextStatus == 'completed' then
    status, finalError = 'completed', nil
    redis.call('HSET', job, 'status', 'completed', 'result', result, 'completedAt', now, 'updatedAt', now, 'lastFinish', identity, unpack(entry))
  else
    if nextStatus == 'retrying' or nextStatus == 'canceled' then status = 'canceled' end
    if nextStatus == 'retrying' then identity = identity .. '!' end
    redis.call('HSET', job, 'status', status, 'error', err, 'completedAt', now, 'updatedAt', now, 'lastFinish', identity, unpack(entry))
  end
  local gone = {'nextAttemptAt', 'lease', 'leaseOwner', 'suspect', 'quotaQueued', 'permit'}
  if not finalError then gone[#gone + 1] = 'error' end
  redis.call('HDEL', job, unpack(gone))
  finalize(stream, group, deadLetters, job, history, fields[5], entryId, fields[4], nextStatus == 'failed', now, fields[9],
    {status = status, attempts = fields[3], callbackUrl = fields[11], completedAt = now, error = finalError,
      queued = fields[12] ~= false, permit = fields[13] ~= false, listHistory = listed or fields[14] == '1'})
  return nextStatus == 'retrying' and 2 or 1
end

local replies = {}
for i = 1, (#KEYS - 3) / 2 do
  local a = 2 + 11 * (i - 1)
  local job, history = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  replies[i] = isolated(stream, group, deadLetters, job, history, ARGV[a + 4], now, finish, job, history,
    ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9], ARGV[a + 10])
end
flushBatch()
return replies
