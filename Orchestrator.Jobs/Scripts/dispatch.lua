#!lua
-- Declared (no flags), Redis refuses the whole script above maxmemory, before its first command: its
-- first writes (ZREMRANGEBYSCORE, ZPOPMIN) are none Redis refuses, and one let every later write
-- through, so workers took jobs and called the LLM with Redis full, their outcomes unwritable.
--[[
  dispatch: a worker with n free slots takes up to n jobs, chosen by weighted fair sharing between
  the tenants with ready work, and receives them through the stream in the same call. The stream
  and its pending-entries list stay the lease table (claim.lua, reclaim, renew are unchanged); the
  ready sets only decide which jobs enter it and in what order. The stream never holds more
  undelivered entries than it did before the call, so a tenant's backlog waits in its own ready
  set and never in front of another tenant's next job.

  KEYS[1]  jobs stream      KEYS[2]  active tenants {orch}:tenants   KEYS[3]  state {orch}:dispatch
  KEYS[4]  dead-letter sorted set (when it claims too)
  Ready sets and job hashes derive from the prefix of KEYS[1] (same hash tag, same slot): see
  includes/ready.lua.

  ARGV[1]  consumer group   ARGV[2]  consumer   ARGV[3]  n, the free slots
  ARGV[4]  Scheduling:MaxLowPriorityWait, ms
  ARGV[5]  tenants' policies, JSON {tenant: [weight, maxConcurrency, tokensPerMinute]} (0 = none);
           a tenant not listed has weight 1 and no limits
  ARGV[6]  permit lease, ms (Worker:LeaseTimeout); a dispatch reserves a permit for min(lease, 5 s)
  ARGV[7]  '' to dispatch only; else a token: the call claims what it delivers too (as claim.lua,
           one round trip fewer), entry i (from 1) under the lease token ARGV[7] .. ':' .. i
  ARGV[8]  '1' to start the next attempt too (claim.lua's ARGV[3])   ARGV[9]  max crashes

  Start-time fair queueing: every tenant's next job has a start tag (its score in KEYS[2]); the
  smallest goes first, and each job dispatched moves its tenant's tag on by 1 / weight, so two
  backlogged tenants at weights 3 and 1 are served 3 : 1, and a tenant alone gets everything.
  The system virtual time (state 'vt') is the tag of the last job dispatched; a tenant that
  becomes active starts there (includes/ready.lua). Within a tenant: high, then normal, oldest
  first; a low job goes first once it has waited MaxLowPriorityWait (aging), else after them.

  Held back, not taken: a tenant whose MaxConcurrency permits are all taken, and a tenant over its
  TokensPerMinute (its token GCRA, {orch}:tenant:<t>:tpm, charged by tenant-tokens.lua, is more
  than a minute ahead). A held tenant keeps its tag, parked (below) until it may run, and is first
  again then. A job
  dispatched under MaxConcurrency reserves its permit (see send), so workers dispatching at once
  never send more of a tenant's jobs than it has permits free.

  Re-sent: a dispatch only whose reply was lost has moved its jobs into the stream and delivered
  them to this consumer; they are pending there, and reclaim hands them to a worker after one lease
  (as entries of a worker that died after XREADGROUP always were). A second call dispatches anew.
  A dispatch that claims remembers what it delivered under its token ('<prefix>:dispatch:<consumer>',
  for two leases): the same call sent again delivers nothing new and claims the same entries with
  the same tokens, which claim.lua's rules answer as the first time (lastClaim).

  Returns {entryId, jobId, entryId, jobId, …}: the entries delivered to this consumer, oldest first
  (entries added to the stream by an older version, not yet delivered, come first). When it claims,
  {entryId, jobId, claim reply, …}: each entry's claim.lua reply after its ids.
]]
--@include clock
--@include job
--@include ready
--@include claim

local stream, tenants, state = KEYS[1], KEYS[2], KEYS[3]
local group, consumer, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local lowWait, policies, leaseMs = tonumber(ARGV[4]), cjson.decode(ARGV[5] ~= '' and ARGV[5] or '{}'), tonumber(ARGV[6])
local prefix = string.sub(stream, 1, -(string.len(':stream') + 1))
-- One reading of Redis's clock: µs for the ready sets' aging, ms for permits and token clocks.
local nowUs = readyClock()
local now = math.floor(nowUs / 1000)
local MAX_HELD = 100
-- Numbers given to redis.call below go as text made with string.format: Redis formats a Lua number
-- with snprintf("%.17g"), ~0.4 µs each, and a dispatch runs once per job at concurrency 1.
local claimToken = ARGV[7] or ''
local remembered = prefix .. ':dispatch:' .. consumer

-- Claims the delivered entries {entryId, jobId, …} under claimToken and answers each entry's ids
-- and claim reply.
local function claimDelivered(delivered)
  local deadLetters = KEYS[4]
  local entries = {}
  for i = 1, #delivered, 2 do
    local job = prefix .. ':job:' .. delivered[i + 1]
    entries[#entries + 1] = {job, job .. ':attempts', delivered[i], claimToken .. ':' .. ((i + 1) / 2)}
  end
  local claims = claimEntries(stream, group, consumer, deadLetters, string.format('%d', now), ARGV[8] == '1', tonumber(ARGV[9]), policies, entries)
  local reply = {}
  for i = 1, #entries do
    reply[#reply + 1] = delivered[2 * i - 1]
    reply[#reply + 1] = delivered[2 * i]
    reply[#reply + 1] = claims[i]
  end
  return reply
end

if claimToken ~= '' then
  -- This very call applied already (its reply was lost): the same entries, claimed again the same way.
  local last = redis.call('GET', remembered)
  if last and string.sub(last, 1, #claimToken + 1) == claimToken .. ' ' then
    local delivered = {}
    for word in string.gmatch(string.sub(last, #claimToken + 2), '%S+') do
      delivered[#delivered + 1] = word == '-' and '' or word
    end
    return claimDelivered(delivered)
  end
end

local function policyOf(tenant)
  local p = policies[tenant]
  if not p then return 1, 0, 0 end
  return tonumber(p[1]) or 1, tonumber(p[2]) or 0, tonumber(p[3]) or 0
end

-- Room for the tenant now: math.huge without limits; 0 when it is held back, and then when to look
-- again (Unix ms): its token clock's fall to a minute ahead, or its first permit's lapse (a permit
-- returned sooner makes it due at once: returnPermit in includes/job.lua).
local function roomOf(tenant, limit, tpm)
  if tpm > 0 then
    local tat = tokenClock(prefix .. ':tenant:' .. tenant .. ':tpm', tpm, now)
    if tat - now > 60000 then return 0, tat - 60000 end
  end
  if limit <= 0 then return math.huge end
  local permits = prefix .. ':tenant:' .. tenant .. ':permits'
  redis.call('ZREMRANGEBYSCORE', permits, '-inf', now)
  local room = limit - redis.call('ZCARD', permits)
  if room > 0 then return room end
  return 0, tonumber(redis.call('ZRANGE', permits, '0', '0', 'WITHSCORES')[2]) or now
end

-- The tenant's next job id, by priority and aging; nil when its sets are empty.
local function popNext(tenant)
  local set = readyOf(prefix, tenant)
  local low = set .. ':low'
  local oldestLow = redis.call('ZRANGE', low, '0', '0', 'WITHSCORES')
  if oldestLow[1] and tonumber(oldestLow[2]) + lowWait * 1000 <= nowUs then
    return redis.call('ZPOPMIN', low)[1]
  end
  local head = redis.call('ZPOPMIN', set)[1]
  if head then return head end
  if oldestLow[1] then return redis.call('ZPOPMIN', low)[1] end
  return nil
end

-- The tenant's next `count` job ids (fewer when its sets run out). Without low jobs, one ZPOPMIN.
-- Also whether the tenant had low jobs (before these pops).
local function popRun(tenant, count)
  local ids = {}
  if redis.call('EXISTS', readyOf(prefix, tenant) .. ':low') == 0 then
    local popped = redis.call('ZPOPMIN', readyOf(prefix, tenant), string.format('%d', count))
    for i = 1, #popped, 2 do ids[#ids + 1] = popped[i] end
    return ids, false
  end
  for _ = 1, count do
    local jobId = popNext(tenant)
    if not jobId then break end
    ids[#ids + 1] = jobId
  end
  return ids, true
end

-- Sends one job into the stream, with its permit reserved. A member of a ready set is a queued or
-- retrying job (cancel takes it out; nothing else makes it final there); should it be gone or
-- corrupt all the same, claim.lua drops or sets aside the entry as it does any other. The job's
-- entryId is recorded by the claim.
-- The reservation is the permit itself (member = job id) on a short lease, RESERVE_MS, that
-- start-attempt.lua turns into the job's permit (takePermit finds it its own). Not renewed: a job
-- that does not start at once (it waits behind a suspect in its worker, which may need that very
-- permit) lets its reservation lapse, and takes a permit again when it starts.
local RESERVE_MS = math.min(leaseMs, 5000)
local function send(tenant, jobId, limit)
  if limit > 0 then
    local permits = prefix .. ':tenant:' .. tenant .. ':permits'
    redis.call('ZADD', permits, now + RESERVE_MS, jobId)
    redis.call('PEXPIRE', permits, leaseMs * 2)
  end
  redis.call('XADD', stream, '*', 'jobId', jobId)
end

-- [parked] A held tenant leaves the tag order for <prefix>:tenants:held (score: when to look again),
-- its tag kept in the state ('held:<tenant>'), so that held tenants never fill the window of tenants
-- a call looks at: they kept their low tags at its front, and with more than n + MAX_HELD of them
-- held no call reached a tenant that could run. The due ones come back first, with their tags.
local held = prefix .. ':tenants:held'
local due = redis.call('ZRANGE', held, '-inf', string.format('%d', now), 'BYSCORE', 'LIMIT', '0', string.format('%d', n + MAX_HELD))
if #due > 0 then
  local fields, back, idle = {}, {}, {}
  for i, tenant in ipairs(due) do fields[i] = 'held:' .. tenant end
  local tags = redis.call('HMGET', state, unpack(fields))
  for i, tenant in ipairs(due) do
    local tag = tags[i] or redis.call('HGET', state, 'vt') or '0'
    local set = readyOf(prefix, tenant)
    if redis.call('EXISTS', set) == 0 and redis.call('EXISTS', set .. ':low') == 0 then
      -- Its jobs left while it was parked (canceled): idle now, as a tenant a dispatch empties.
      idle[#idle + 1] = 'finish:' .. tenant
      idle[#idle + 1] = tag
    else
      back[#back + 1] = tag
      back[#back + 1] = tenant
    end
  end
  if #back > 0 then redis.call('ZADD', tenants, unpack(back)) end
  if #idle > 0 then redis.call('HSET', state, unpack(idle)) end
  redis.call('ZREM', held, unpack(due))
  redis.call('HDEL', state, unpack(fields))
end

-- Which tenants get the n jobs: start-time fair queueing simulated in memory over the first
-- tenants by tag (enough for n jobs and MAX_HELD held ones), then one pop per chosen tenant and one
-- write of the moved tags, rather than a round trip through the sorted set per job.
local candidates = {}
-- A tenant beyond the fetched ones may be first once the candidates' tags pass its own: stop there.
local bound = math.huge
-- A window of only held tenants parks them all and the next window is looked at, up to
-- MAX_WINDOWS: a crowd of tenants newly held costs a few calls, not a poll timeout each.
local MAX_WINDOWS = 4
for _ = 1, MAX_WINDOWS do
  local fetched = redis.call('ZRANGE', tenants, '0', string.format('%d', n + MAX_HELD), 'WITHSCORES')
  local parked, parkedTags, parkedTenants = {}, {}, {}
  bound = math.huge
  for i = 1, #fetched, 2 do
    if (i + 1) / 2 > n + MAX_HELD then
      bound = tonumber(fetched[i + 1])
      break
    end
    local tenant = fetched[i]
    local weight, limit, tpm = policyOf(tenant)
    local room, lookAgain = roomOf(tenant, limit, tpm)
    if room > 0 then
      local tag = tonumber(fetched[i + 1])
      candidates[#candidates + 1] = {tenant = tenant, start = tag, tag = tag, weight = weight, limit = limit, room = room, count = 0}
    else
      parked[#parked + 1] = string.format('%d', math.ceil(lookAgain))
      parked[#parked + 1] = tenant
      parkedTags[#parkedTags + 1] = 'held:' .. tenant
      parkedTags[#parkedTags + 1] = fetched[i + 1]
      parkedTenants[#parkedTenants + 1] = tenant
    end
  end
  if #parked > 0 then
    redis.call('ZADD', held, unpack(parked))
    redis.call('HSET', state, unpack(parkedTags))
    redis.call('ZREM', tenants, unpack(parkedTenants))
  end
  if #candidates > 0 or #parked == 0 then
    break
  end
end

local left = n
while left > 0 do
  -- The candidate with the smallest tag (the first in tag order on a tie, as the sorted set orders
  -- them) and the next smallest tag after it.
  local best, second = nil, bound
  for _, c in ipairs(candidates) do
    if c.count < c.room then
      if not best or c.tag < best.tag then
        if best and best.tag < second then second = best.tag end
        best = c
      elseif c.tag < second then
        second = c.tag
      end
    end
  end
  if not best or best.tag > bound then break end
  -- Jobs it may take in a row before another tag is smaller.
  local run = math.min(left, best.room - best.count, math.floor((second - best.tag) * best.weight) + 1)
  best.count = best.count + run
  best.tag = best.tag + run / best.weight
  left = left - run
end

-- The state's two counters read once and written once (the script is atomic: as HINCRBY would).
local counters = redis.call('HMGET', state, 'vt', 'ready')
local vt = tonumber(counters[1] or '0')
local sent, moved, emptied = 0, {}, {}
for _, c in ipairs(candidates) do
  if c.count > 0 then
    local ids, hadLow = popRun(c.tenant, c.count)
    for _, jobId in ipairs(ids) do
      send(c.tenant, jobId, c.limit)
    end
    sent = sent + #ids
    local tag = c.start + #ids / c.weight
    if #ids > 0 then
      vt = math.max(vt, c.start + (#ids - 1) / c.weight)
    end
    local set = readyOf(prefix, c.tenant)
    -- A tenant without low jobs before the pops has none after them.
    if #ids < c.count or (redis.call('ZCARD', set) == 0 and (not hadLow or redis.call('EXISTS', set .. ':low') == 0)) then
      emptied[#emptied + 1] = c.tenant
      redis.call('HSET', state, 'finish:' .. c.tenant, tagString(tag))
    else
      moved[#moved + 1] = tagString(tag)
      moved[#moved + 1] = c.tenant
    end
  end
end
if #moved > 0 then
  redis.call('ZADD', tenants, unpack(moved))
end
if #emptied > 0 then
  redis.call('ZREM', tenants, unpack(emptied))
end
if sent > 0 then
  -- 'ready' never below zero.
  redis.call('HSET', state, 'vt', tagString(vt), 'ready', string.format('%d', math.max(0, (tonumber(counters[2]) or 0) - sent)))
end

local reply = {}
local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', ARGV[3], 'STREAMS', stream, '>')
if read and read[1] then
  for _, entry in ipairs(read[1][2]) do
    local fields, jobId = entry[2], ''
    for i = 1, #fields, 2 do
      if fields[i] == 'jobId' then jobId = fields[i + 1] end
    end
    reply[#reply + 1] = entry[1]
    reply[#reply + 1] = jobId
  end
end
if claimToken == '' then
  return reply
end
if #reply > 0 then
  -- An entry without a job id (claim.lua drops it as missing) is remembered as '-'.
  local words = {}
  for i, word in ipairs(reply) do words[i] = word == '' and '-' or word end
  redis.call('SET', remembered, claimToken .. ' ' .. table.concat(words, ' '), 'PX', string.format('%d', leaseMs * 2))
end
return claimDelivered(reply)
