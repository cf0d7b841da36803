--[[
  prune-consumers: remove consumers from the group that hold nothing and have not been seen for a
  long time (workers that stopped; each process joins under a new name). A consumer with pending
  entries is never removed (its entries would leave the pending list and never be delivered again);
  checking and removing in one script leaves no gap for a consumer to read in between.

  KEYS[1]  jobs stream
  ARGV[1]  consumer group      ARGV[2]  idle time (ms) past which an empty consumer goes
  ARGV[3]  the caller's own consumer name (never removed)

  Returns  the number of consumers removed; 0 when the stream does not exist (a fresh or emptied
           Redis, before the first dispatch or the group is made), where XINFO would answer
           "ERR no such key". A missing group still answers NOGROUP, which callers treat as transient.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local c = {}
  for i = 1, #consumer, 2 do c[consumer[i]] = consumer[i + 1] end
  if c.name ~= ARGV[3] and tonumber(c.pending) == 0 and tonumber(c.idle) > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], c.name)
    removed = removed + 1
  end
end
return removed
