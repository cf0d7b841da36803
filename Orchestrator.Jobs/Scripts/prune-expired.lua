#!lua flags=allow-oom
-- Declared allow-oom, as prune-index.lua: it only removes ids and moves a cursor (a few bytes).
--[[
  prune-expired: drop members of a sorted set of ids whose record has expired, walked from a cursor
  in {orch}:prune-cursors, ARGV[1] members a call. Two sets use it:
  - the webhook outbox {orch}:webhooks (records '{orch}:webhook:<id>'): claim-webhooks.lua drops
    expired members as it meets them, but only a worker with Webhooks:Secret claims, and only those
    due: without one the outbox grew by one member per delivery queued, forever, and a delivery
    rescheduled an hour ahead stayed past its job's expiry.
  - the dead letters {orch}:dead (jobs '{orch}:job:<id>'): finalize (includes/job.lua) prunes them
    only when a job is dead-lettered, so after the last one the set (and the orchestrator.dead_letters
    gauge, its ZCARD) kept every expired id for days. Run with each worker's queue stats. A tenant's
    own set is trimmed by its next dead letter and expires with its newest member's job
    (includes/job.lua, finalize): the tenant of a job gone is unknown here.
  Members do not expire in their order: jobs kept by APIs with different Api:JobRetention (or from
  before a change of it) expire at other times, and deliveries are scored by their next try. So the
  walk goes past a member still kept (it stopped there, and an audit found 1,500 expired dead letters
  kept behind one with 10 minutes left: GET /dead-letters answered empty pages), and the cursor says
  where the next call goes on; at the set's end it starts again from the oldest.

  KEYS[1]  the sorted set, '<prefix>:<name>'   (records are '<prefix>:<kind>:<id>': the same hash
           tag, so the same slot on Redis Cluster, as BullMQ's scripts derive their keys)
  KEYS[2]  '<prefix>:slot-settled', never written: Redis Cluster refuses the script (TRYAGAIN) while
           the slot moves, when a record not moved yet would read as expired (RedisKeys.SlotSettled)
  KEYS[3]  the cursors '<prefix>:prune-cursors' (hash: '<name>' -> the score the next look starts at)
  ARGV[1]  most members to look at     ARGV[2]  the records' kind: 'job' or 'webhook'

  Re-sent: what was dropped is gone; the cursor moves on or a look is repeated, changing nothing.

  Returns  {members dropped, members looked at}
]]
--@include prune

local set, cursors = KEYS[1], KEYS[3]
local prefix, name = string.match(set, '^(.*):([^:]+)$')
local dropped, looked, nextFrom = prunePage(set, redis.call('HGET', cursors, name) or '-inf', tonumber(ARGV[1]), prefix .. ':' .. ARGV[2] .. ':')
if nextFrom then
  redis.call('HSET', cursors, name, nextFrom)
else
  -- The end: the next call starts again from the oldest.
  redis.call('HDEL', cursors, name)
end
return {dropped, looked}
