#!lua flags=allow-oom
-- Declared allow-oom: it only removes ids and moves a cursor (a few bytes). Undeclared, Redis full
-- refused its first write that may grow memory, the cursor's HSET, when the page under the cursor
-- held only kept jobs (nothing removed before it): the cursor never moved past them, and the expired
-- ids behind them were never dropped while Redis stayed full.
--[[
  prune-index: drop ids whose job has expired from the jobs index, {orch}:jobs and the registered
  tenants' {orch}:jobs:<tenant>, each walked from its cursor in {orch}:index-cursors (design
  doc, "Pruning the jobs index by expiry"). Jobs do not expire in their ids' order (creation), so
  unlike prune-expired.lua a walk cannot stop at the first job kept: it goes past it, and the
  cursor says where the next call goes on.

  KEYS[1]  the cursors {orch}:index-cursors (hash: '*' for {orch}:jobs, '<tenant>' for
           {orch}:jobs:<tenant>; a cursor is the score, creation in Unix ms, the next look starts at).
           The sets, the jobs '{orch}:job:<id>' and the backlogs '{orch}:tenant:<t>:queued' are
           derived from its prefix: the same hash tag, so the same slot.
  KEYS[2]  '<prefix>:slot-settled', never written: Redis Cluster refuses the script (TRYAGAIN) while
           the slot moves, when a job not moved yet would read as expired (RedisKeys.SlotSettled)
  ARGV[1]  most ids looked at in a tenant's set     ARGV[2]  most tenants' sets looked at (picked at random)
  ARGV[3]  most ids looked at in the global set (it holds every tenant's ids: a larger page)

  Re-sent: what was dropped is gone; the cursor moves on or a look is repeated, changing nothing.

  Returns  {ids dropped, ids looked at}
]]
--@include prune

local cursors = KEYS[1]
local prefix = string.match(cursors, '^(.*):[^:]+$')
local tenants = tonumber(ARGV[2])
local dropped, looked = 0, 0

local function walk(field, page)
  local from = redis.call('HGET', cursors, field)
  if not from then
    return
  end

  local set = field == '*' and prefix .. ':jobs' or prefix .. ':jobs:' .. field
  local pageDropped, pageLooked, nextFrom = prunePage(set, from, page, prefix .. ':job:')
  dropped, looked = dropped + pageDropped, looked + pageLooked

  if not nextFrom then
    nextFrom = '0'
    local backlog = prefix .. ':tenant:' .. field .. ':queued'
    if field ~= '*' and redis.call('EXISTS', set) == 0 and (tonumber(redis.call('HGET', backlog, 'jobs')) or 0) <= 0 then
      -- Every job of the tenant is gone and none waits: its next submission registers it again. Its
      -- backlog (a count of 0 and its finishing pace) and its finish tag go too (it comes back as a
      -- new tenant does): a tenant removed from the configuration left both for good.
      redis.call('HDEL', cursors, field)
      redis.call('DEL', backlog)
      redis.call('HDEL', prefix .. ':dispatch', 'finish:' .. field)
      return
    end
  end

  redis.call('HSET', cursors, field, nextFrom)
end

walk('*', tonumber(ARGV[3]))
if tenants > 0 then
  for _, field in ipairs(redis.call('HRANDFIELD', cursors, tostring(tenants + 1))) do
    if field ~= '*' and tenants > 0 then
      walk(field, tonumber(ARGV[1]))
      tenants = tenants - 1
    end
  end
end

return {dropped, looked}
