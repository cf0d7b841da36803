--[[
  claim: a worker takes delivered (or reclaimed) stream entries, any number in one call, and
  becomes each job's lease holder. A new random lease token fences out any earlier holder: every
  later write checks it. One call for a whole XREADGROUP batch keeps Redis work and round trips
  per job low; each job is claimed exactly as it would be alone, and a job that cannot be claimed
  (a value that does not parse, a step that fails) is set aside without touching the others.

  KEYS[1]  jobs stream         KEYS[2]  dead-letter sorted set (all tenants); the tenant's own
                               set is KEYS[2] .. ':' .. tenant (same hash tag), written beside it
  KEYS[1 + 2i], KEYS[2 + 2i]   job i's hash and history list (the list: earlier jobs only, includes/job.lua [history]) (i = 1 … n)

  ARGV[1]  consumer group      ARGV[2]  consumer name
  ARGV[3]  '1' to start the next attempt too, when the job may start now; '' claim only
  ARGV[4]  max crashes (Worker:MaxCrashes): crashes while running alone before 'poison-job'
  ARGV[5]  tenants' policies, JSON {tenant: [weight, maxConcurrency, tokensPerMinute]} ('' or {} = none);
           only maxConcurrency is read here
  ARGV[4 + 2i], ARGV[5 + 2i]   job i's stream entry id and new lease token

  Times (nextAttemptAt, startedAt, …) are Redis's own (TIME), not the caller's.

  The attempt budget is the job's own maxAttempts, fixed when it was submitted. Starting here does
  what start-attempt.lua does, in the same round trip: the attempt is recorded durably before the
  LLM is called. It starts only a job that is queued or retrying, due (nextAttemptAt ≤ now) and
  has an attempt left; a job waiting for a retry is only claimed, and its caller waits and calls
  start-attempt.lua itself. A draining worker passes '' (it must not start work it would hand back).
  A job whose tenant has a MaxConcurrency is only claimed too: its attempt starts with a permit
  (includes/job.lua [tenant permits]) in start-attempt.lua, which its worker calls once the job
  may run there (after SoloGate). So a permit is only ever held by an attempt that is running,
  never by one waiting behind a suspect in its worker, which could wait for that very permit.

  Poison isolation (docs/design/job-store.md): a job found 'processing' lost its worker
  mid-attempt. It becomes a suspect: this claim does not start it, and its worker runs it apart
  from ordinary jobs: suspect = 1 (its lost attempt ran beside ordinary jobs) in a group with the
  other such suspects it holds, suspect = 2 (lost in a group of suspects, or alone) alone
  (start-attempt.lua records aloneAttempt). If the lost attempt ran alone, the crash was the job's:
  crashes + 1, and at max crashes it is dead-lettered as 'poison-job'. If it ran beside other jobs,
  nobody can tell whose crash it was: the attempt stays in the history as worker-lost but is not
  charged to the job's budget (sharedLosses + 1; the budget is maxAttempts + sharedLosses +
  releasedAttempts attempts, and the delivery cap, for jobs that are not suspects, as many
  deliveries). releasedAttempts counts attempts cut off at a graceful shutdown: release.lua closes
  them as 'released' and leaves the job 'retrying', so a claim never finds them running.

  Re-sent: the claim is identified by its lease token. A call that already applied (its reply was
  lost) finds its token in lastClaim, with claimReply ('dead-lettered', 'canceled', 'corrupt' or
  the attempt it started), and answers as it did, changing nothing.

  Returns one reply per job, in order:
           {'missing'}        job expired or never existed; entry acknowledged
         | {'terminal'}       job already final; entry acknowledged (a late duplicate delivery)
         | {'dead-lettered', 0, fields}  attempts or deliveries exhausted; job failed and dead-lettered;
                              fields: the job hash as the claim left it, packed as for 'ok'
         | {'canceled', 0, fields}  its cancel was requested while its worker was lost: canceled
                              here with no further attempt; fields as for 'dead-lettered'
         | {'corrupt', why}   job set aside: failed, dead-lettered with error type 'corrupt'
         | {'ok', started, fields}  started: the number of the attempt this claim started, or 0
                              when none; then the job hash as this claim left it: field, value, …
                              (HGETALL shape) joined by byte 255 into one string; handedBack = 1
                              among them when release.lua handed the job back (the claim deletes
                              it from the hash): its worker tells a hand-back from a lapsed lease;
                              lostAttempt = '<n>:<startedAt>:<endedAt>' (ms; reply only, never
                              stored; in the 'dead-lettered' and 'canceled' replies too) when this
                              claim closed attempt n as worker-lost: its worker records that
                              attempt's span and counts it
]]
local stream, deadLetters = KEYS[1], KEYS[2]
--@include clock
--@include job
--@include claim

local group, consumer, now = ARGV[1], ARGV[2], nowMs()
local startNow = ARGV[3] == '1'
local maxCrashes = tonumber(ARGV[4])
local limits = cjson.decode(ARGV[5] ~= '' and ARGV[5] or '{}')
local entries = {}
for i = 1, (#KEYS - 2) / 2 do
  entries[i] = {KEYS[1 + 2 * i], KEYS[2 + 2 * i], ARGV[4 + 2 * i], ARGV[5 + 2 * i]}
end
return claimEntries(stream, group, consumer, deadLetters, now, startNow, maxCrashes, limits, entries)

