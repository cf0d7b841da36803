#!lua flags=allow-oom
-- allow-oom: as release.lua, a step that gives back what a worker holds runs above maxmemory too;
-- it moves one member from the stream to a ready set.
--[[
  requeue: a claimed job whose attempt has not started goes back to its tenant's ready set, in the
  place of its submission, and dispatch.lua sends it again, with a permit reserved, when the tenant
  has one free. A worker calls it for a job held for its tenant's MaxConcurrency permit
  (start-attempt.lua answered 'held': a retry, a job taken over, a reservation that lapsed). Waiting
  in its worker, such a job held a slot while the permits that came free went to the tenant's next
  jobs, and a suspect, which runs apart from ordinary jobs (SoloGate), held its whole worker
  (docs/design/job-store.md, "Tenant concurrency permits"). A suspect keeps `suspect`, `crashes`
  and `sharedLosses`: the claim that takes it up again runs it apart as before.

  The entry is acknowledged and deleted and the lease dropped; the delivery ended cleanly, so it is
  not counted (deliveries − 1, as release.lua and the delayed set do). Nothing else changes: the job
  stays 'queued' or 'retrying', its history and events as they were.

  KEYS[1]  job hash            KEYS[2]  jobs stream (its prefix: ready sets, {orch}:dispatch)
  ARGV[1]  lease token         ARGV[2]  consumer group
  ARGV[3]  stream entry id

  Re-sent: identified by the lease token, kept in lastRequeue; a requeue that already applied
  answers 1 again and changes nothing (also after a dispatch sent the job again).

  Returns  1 requeued
         | 0 stale: the caller no longer holds the lease, or the job's attempt has started
]]
local job, stream = KEYS[1], KEYS[2]
--@include clock
--@include job
--@include ready

local token, group, entryId = ARGV[1], ARGV[2], ARGV[3]
local f = redis.call('HMGET', job, 'lease', 'lastRequeue', 'status', 'id', 'tenant', 'priority', 'createdAt')
if f[2] == token then
  return 1
end
if f[1] ~= token or (f[3] ~= 'queued' and f[3] ~= 'retrying') then
  return 0
end

-- The ready set first: at maxmemory with allow-oom the ZADD is taken; should it be refused all the
-- same, nothing has changed and the worker keeps the job.
local createdAt = tonumber(f[7])
local _, refused = enqueueReady(prefixOf(job), f[4] or jobIdOf(job), f[5], f[6], createdAt and createdAt * 1000)
if refused then
  error({err = refused})
end
ack(stream, group, entryId)
redis.call('HDEL', job, 'lease', 'leaseOwner', 'entryId')
redis.call('HINCRBY', job, 'deliveries', '-1')
redis.call('HSET', job, 'lastRequeue', token)
return 1
