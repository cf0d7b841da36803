#!lua flags=allow-oom
-- allow-oom: one small member per worker; with Redis full a reclaimer must still learn the fleet's
-- lease, or it would take live jobs from workers whose lease is longer than its own.
--[[
  fleet-lease: the longest Worker:LeaseTimeout among the workers seen lately. A worker reclaims the
  pending entries idle past this, not past its own: in a fleet whose lease is being changed (a
  rolling restart), a worker with a shorter one took live jobs from a worker with a longer one,
  whose renewals come only every third of its lease (an outside audit: a job taken from a healthy
  worker 3 s after it started, its call paid twice). Each worker calls it at start and with each
  round of lease renewals (every third of its lease).

  KEYS[1]  {orch}:meta:leases  sorted set: member '<lease ms>:<consumer>', score = when it stops
           counting (Unix ms, Redis's clock); the key expires with its last member
  ARGV[1]  the caller's member ('<lease ms>:<consumer>')
  ARGV[2]  how long it counts, ms (a few of its leases: a worker stopped or dead goes on counting
           until its own entries were reclaimable on its lease anyway)

  Returns  the longest lease, ms, among the members counting (the caller's included)
]]
--@include clock

local key, member, stands = KEYS[1], ARGV[1], tonumber(ARGV[2])
local now = tonumber(nowMs())
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
redis.call('ZADD', key, now + stands, member)
local longest, last = 0, 0
for i, value in ipairs(redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')) do
  if i % 2 == 1 then
    longest = math.max(longest, tonumber(string.match(value, '^(%d+):')) or 0)
  else
    last = math.max(last, tonumber(value))
  end
end
redis.call('PEXPIREAT', key, last)
return longest
