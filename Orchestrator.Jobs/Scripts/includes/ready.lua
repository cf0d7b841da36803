-- Fair sharing and priorities (issue 16; docs/design/job-store.md "Ready sets and dispatch").
-- A job that may run waits in its tenant's ready set until dispatch.lua hands it to a worker
-- through the stream. Included after `job` (uses prefixOf, parkedDue). Every key derives from the
-- job key's prefix: the same hash tag, so the same slot on Redis Cluster.
--
--   <prefix>:ready:<tenant>       sorted set: high and normal jobs, score = enqueue time (Unix µs,
--                                 so jobs of one millisecond keep their order; a job back from a
--                                 wait for its deployment: its submission's, placeAt), minus
--                                 HIGH_OFFSET for a high one (ahead of every normal job)
--   <prefix>:ready:<tenant>:low   sorted set: low jobs, score = enqueue time (µs); dispatch takes the
--                                 oldest first once it has waited Scheduling:MaxLowPriorityWait
--   <prefix>:tenants              sorted set: tenants with ready work, score = the start tag of
--                                 their next job (start-time fair queueing)
--   <prefix>:tenants:held         sorted set: active tenants held back (MaxConcurrency, TokensPerMinute),
--                                 parked out of the tag order, score = when dispatch looks again (ms)
--   <prefix>:dispatch             hash: 'ready' (jobs in ready sets, for the backlog bound), 'vt'
--                                 (the system virtual time: the tag of the last job dispatched),
--                                 'finish:<tenant>' (an idle tenant's last finish tag),
--                                 'held:<tenant>' (a parked tenant's tag)
--   <prefix>:ready  (channel)     a tenant became dispatchable (message: the tenant): idle workers
--                                 wake and dispatch; a lost message costs at most Worker:PollTimeout

-- µs since the epoch are about 1.8e15 and stay exact in a double (2^53 ≈ 9e15), the offset too.
local HIGH_OFFSET = 4e15

-- Redis's clock in µs: a ready set's order is the order the jobs were enqueued in.
local function readyClock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- A virtual-time tag as Redis should store it: every digit (Lua's own conversion keeps 14).
local function tagString(tag)
  return string.format('%.17g', tag)
end

local function readyOf(prefix, tenant)
  return prefix .. ':ready:' .. (tenant or 'default')
end

-- Announces that the tenant has work a worker may take (a new active tenant, a permit returned).
local function wakeWorkers(prefix, tenant)
  announce(prefix .. ':ready', tenant or 'default')
end

-- Puts a job into its tenant's ready set (idempotent: a member already there keeps one place), at
-- the back, or at `at` (µs; a job back from a wait for its deployment keeps its submission's place).
-- A tenant that had no ready work becomes active with the start tag max(system virtual time, its
-- own last finish tag): idling earns no credit, and a tenant that just had its turn does not get
-- a second one by leaving and coming back. The set's ZADD is the first write and is sent with
-- redis.pcall: at maxmemory Redis refuses it and nothing has changed; the error is returned
-- (second value) for the caller to answer 'storage-full' or to raise.
local function enqueueReady(prefix, jobId, tenant, priority, at)
  tenant = tenant or 'default'
  local set, score = readyOf(prefix, tenant), at or readyClock()
  if priority == 'low' then
    set = set .. ':low'
  elseif priority == 'high' then
    score = score - HIGH_OFFSET
  end
  -- A whole number of µs (below 2^53): '%d' writes it as '%.0f' did, without float formatting.
  local added = redis.pcall('ZADD', set, string.format('%d', score), jobId)
  if type(added) == 'table' and added.err then
    return nil, added.err
  end
  local dispatch = prefix .. ':dispatch'
  if added == 1 then
    redis.call('HINCRBY', dispatch, 'ready', '1')
  end
  local tenants = prefix .. ':tenants'
  -- A tenant parked while held (dispatch.lua) is active already: it comes back with its own tag.
  if not redis.call('ZSCORE', tenants, tenant) and not redis.call('ZSCORE', tenants .. ':held', tenant) then
    local state = redis.call('HMGET', dispatch, 'vt', 'finish:' .. tenant)
    redis.call('ZADD', tenants, tagString(math.max(tonumber(state[1] or '0'), tonumber(state[2] or '0'))), tenant)
    if state[2] then
      redis.call('HDEL', dispatch, 'finish:' .. tenant)
    end
    wakeWorkers(prefix, tenant)
  end
  return added
end

-- Takes a job out of its tenant's ready sets (a cancel); the tenant leaves the active set at the
-- next dispatch that finds it empty; a parked one whose sets are now empty is made due for that
-- (it waited until it could run again, hours for a far token clock). Returns how many members were
-- removed (0 or 1).
local function leaveReady(prefix, jobId, tenant)
  local set = readyOf(prefix, tenant)
  local removed = redis.call('ZREM', set, jobId) + redis.call('ZREM', set .. ':low', jobId)
  if removed > 0 and redis.call('HINCRBY', prefix .. ':dispatch', 'ready', -removed) < 0 then
    redis.call('HSET', prefix .. ':dispatch', 'ready', 0)
  end
  if removed > 0 and redis.call('EXISTS', set) == 0 and redis.call('EXISTS', set .. ':low') == 0 then
    parkedDue(prefix, tenant or 'default')
  end
  return removed
end

-- Jobs waiting in ready sets, all tenants (counted by enqueueReady, leaveReady and dispatch.lua).
local function readyCount(prefix)
  return tonumber(redis.call('HGET', prefix .. ':dispatch', 'ready') or '0')
end
