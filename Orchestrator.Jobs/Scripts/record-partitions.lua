--[[
  record-partitions: record how many partitions the job system is laid out in (Jobs:Partitions,
  issue 18), unless recorded already, and answer the recorded count. A service whose count differs
  must not start: its jobs would sit in keys the others never read.

  KEYS[1]  layout record       {orch}:meta (hash, field partitions)
  KEYS[2]  the one-partition layout's stream      {orch}:stream
  KEYS[3]  the one-partition layout's jobs index  {orch}:jobs
  ARGV[1]  the caller's partition count
  ARGV[2]  '1' when the caller has more than one partition: with nothing recorded, data in the
           one-partition layout (written before {orch}:meta existed) counts as 1
  ARGV[3]  a channel published to once ({orch}:check), so that a Redis user the ACL denies
           publishing (which the other scripts do after their writes) is found at start, not by a
           submission half-written

  Returns  the recorded count (written now when there was none)
]]
redis.call('PUBLISH', ARGV[3], 'start')
local found = redis.call('HGET', KEYS[1], 'partitions')
if found then
  return tonumber(found)
end
if ARGV[2] == '1' and (redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1) then
  return 1
end
redis.call('HSET', KEYS[1], 'partitions', ARGV[1])
return tonumber(ARGV[1])
