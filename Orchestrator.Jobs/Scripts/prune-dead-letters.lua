--[[
  prune-dead-letters: drop dead-letter members whose job has expired (its retention ended), from the
  oldest, stopping at the first whose job is still there. finalize (includes/job.lua) prunes the set
  only when a job is dead-lettered: after the last one, the set (and the orchestrator.dead_letters
  gauge, its ZCARD) kept every expired id until the next, days later. Run with each worker's queue
  stats. A tenant's own set is pruned by its next dead letter (the tenant of a job gone is unknown).

  KEYS[1]  dead-letter sorted set   {orch}:dead   (jobs are '{orch}:job:<id>', same hash tag)
  ARGV[1]  most members to look at

  Re-sent: what was dropped is gone; the rest is looked at again, changing nothing.

  Returns  the number of members dropped.
]]
local deadLetters = KEYS[1]
local prefix = string.sub(deadLetters, 1, #deadLetters - #':dead')

local dropped = 0
for _, id in ipairs(redis.call('ZRANGE', deadLetters, 0, tonumber(ARGV[1]) - 1)) do
  if redis.call('EXISTS', prefix .. ':job:' .. id) == 1 then
    break
  end
  redis.call('ZREM', deadLetters, id)
  dropped = dropped + 1
end
return dropped
