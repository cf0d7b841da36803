#!lua flags=allow-oom
-- allow-oom: runs above maxmemory too, so that what workers hold ends (recorded, canceled, handed
-- back) with Redis full: small writes that make jobs final (they then expire) or give them back.
--[[
  release: graceful hand-off at shutdown. The caller gives up its lease and marks the pending
  entry as long idle, so another worker's XAUTOCLAIM takes it at once instead of after the lease.
  The delivery does not count towards the poison-job cap: nothing crashed.

  An attempt still running (a call the worker cut off when its host's shutdown timeout ended) is
  closed in the same step with outcome 'released' and is not charged: releasedAttempts + 1, and the
  job's budget is maxAttempts + sharedLosses + releasedAttempts (claim.lua, start-attempt.lua). The
  job becomes 'retrying', due now, so the next claim starts its next attempt at once and does not
  take it for a worker lost mid-attempt. The caller may not know whether its start landed (a lost
  reply), so the attempt closed is the one the job records as running under the caller's lease.
  A history entry that does not parse is left open: the next claim closes it as worker-lost, or
  sets the job aside, as before this step.

  KEYS[1]  job hash            KEYS[2]  jobs stream
  KEYS[3]  job history list (earlier jobs: includes/job.lua [history])
  ARGV[1]  lease token         ARGV[2]  consumer group
  ARGV[3]  stream entry id     ARGV[4]  consumer name
  ARGV[5]  idle time to set, ms

  Times (endedAt, nextAttemptAt, updatedAt) are Redis's own (TIME).

  Re-sent: identified by the lease token, kept in lastRelease with the reply in releaseReply; a
  release that already applied answers the same again and changes nothing (also after another
  worker took the job up).

  Returns  1 when released with no attempt running (the job waited for its attempt or its retry)
         | 2 when released and the running attempt was closed as 'released', not charged
         | 0 when the caller no longer held the lease
]]
local job, stream, history = KEYS[1], KEYS[2], KEYS[3]
--@include clock
--@include job

local token = ARGV[1]
local held = redis.call('HMGET', job, 'lease', 'lastRelease', 'releaseReply', 'status', 'attempts', 'releasedAttempts', 'id', 'tenant')
if held[2] == token then
  -- A release written before releaseReply existed handed back without closing an attempt.
  return tonumber(held[3] or '1')
end
if held[1] ~= token then
  return 0
end

local reply = 1
-- handedBack: the next claim answers with it (and deletes it), so that worker tells a hand-back from a lapsed lease.
local writes = {'lastRelease', token, 'handedBack', '1'}
if held[4] == 'processing' then
  local n = tonumber(held[5] or '0')
  local stored, listed = readAttempt(history, n, redis.call('HGET', job, attemptField(n)))
  local parsed, entry = false, nil
  if stored then
    parsed, entry = pcall(cjson.decode, stored)
  end
  if parsed and type(entry) == 'table' and entry.outcome == nil then
    local now = nowMs()
    entry.endedAt = tonumber(now)
    entry.outcome = 'released'
    entry.error = {type = 'released', message = 'The worker shut down during the call and handed the job back; this attempt is not counted.'}
    local closed = cjson.encode(entry)
    if listed then
      redis.call('LSET', history, n - 1, closed)
    else
      writes[#writes + 1] = attemptField(n)
      writes[#writes + 1] = closed
    end
    for _, v in ipairs({'status', 'retrying', 'nextAttemptAt', now, 'updatedAt', now,
        'releasedAttempts', tonumber(held[6] or '0') + 1}) do
      writes[#writes + 1] = v
    end
    -- [tenant permits] The attempt ended: its permit goes back, as finish-attempt.lua's retry returns it.
    returnPermit(job, held[7] or jobIdOf(job), held[8])
    emitStatus(job, 'retrying', n, now)
    reply = 2
  end
end
writes[#writes + 1] = 'releaseReply'
writes[#writes + 1] = reply
redis.call('HDEL', job, 'lease', 'leaseOwner')
redis.call('HSET', job, unpack(writes))
redis.call('HINCRBY', job, 'deliveries', -1)
redis.call('XCLAIM', stream, ARGV[2], ARGV[4], 0, ARGV[3], 'IDLE', ARGV[5], 'JUSTID')
return reply
