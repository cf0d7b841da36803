--[[
  renew: extend the leases of jobs the caller still holds, any number in one call, by resetting
  the idle time of each pending stream entry (XAUTOCLAIM in other workers only takes entries idle
  past the lease). Idempotent: sent again, it does the same again.

  KEYS[1]  jobs stream         KEYS[1 + i]  job i's hash (i = 1 … n)
  ARGV[1]  consumer group      ARGV[2]  consumer name
  ARGV[1 + 2i], ARGV[2 + 2i]   job i's stream entry id and lease token

  A job holding a tenant permit (its 'permit' field: the permit's lease, ms) has the permit renewed
  with the lease, and taken again if it lapsed while the attempt ran (Redis stalled longer than a
  lease: a restart, CLIENT PAUSE): the permits count the attempts that run, so a tenant over its
  limit after such a stall starts nothing more until it is under it (with ZADD XX the lapsed permit
  stayed given back and the set under-counted for as long as those calls ran); see
  includes/job.lua [tenant permits].

  Returns one integer per job, in order: 1 when the lease is still the caller's, 2 when it is and a
  client has asked to cancel the job (cancel.lua's flag: the worker aborts the call even if the
  cancel channel's message never reached it, e.g. published between the claim's reply and the
  worker tracking the job, or while its subscription was being restored), 0 when another worker
  has claimed the job (or its key is no longer a job hash: the claim that comes next sets it aside).
]]
--@include job

local replies = {}
for i = 1, #KEYS - 1 do
  local ok, held = pcall(redis.call, 'HMGET', KEYS[1 + i], 'lease', 'permit', 'tenant', 'id', 'cancelRequested')
  if ok and held[1] == ARGV[2 + 2 * i] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[1 + 2 * i], 'JUSTID')
    if held[2] then
      local permits, leaseMs = permitsOf(KEYS[1 + i], held[3]), tonumber(held[2])
      redis.call('ZADD', permits, permitClock() + leaseMs, held[4] or jobIdOf(KEYS[1 + i]))
      redis.call('PEXPIRE', permits, leaseMs * 2)
    end
    replies[i] = held[5] == '1' and 2 or 1
  else
    replies[i] = 0
  end
end
return replies
