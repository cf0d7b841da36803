--[[
  renew-permit: a call still running keeps its concurrency permit for another lease.
  Only a permit still held is renewed (ZADD XX): one that lapsed stays given back.

  KEYS[1]  permits  {orch}:llm:<provider>:permits
  ARGV[1]  permit id        ARGV[2]  lease, ms

  Returns 1 when renewed, 0 when the permit had lapsed.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
