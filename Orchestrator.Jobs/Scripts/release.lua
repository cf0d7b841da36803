--[[
  release: graceful hand-off at shutdown. The caller gives up its lease and marks the pending
  entry as long idle, so another worker's XAUTOCLAIM takes it at once instead of after the lease.
  The delivery does not count towards the poison-job cap: nothing crashed.

  KEYS[1]  job hash            KEYS[2]  jobs stream
  ARGV[1]  lease token         ARGV[2]  consumer group
  ARGV[3]  stream entry id     ARGV[4]  consumer name
  ARGV[5]  idle time to set, ms

  Re-sent: identified by the lease token, kept in lastRelease; a release that already applied
  answers 1 again and changes nothing.

  Returns  1 when released, 0 when the caller no longer held the lease.
]]
local held = redis.call('HMGET', KEYS[1], 'lease', 'lastRelease')
if held[2] == ARGV[1] then
  return 1
end
if held[1] ~= ARGV[1] then
  return 0
end
redis.call('HDEL', KEYS[1], 'lease', 'leaseOwner')
redis.call('HSET', KEYS[1], 'lastRelease', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'deliveries', -1)
redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[4], 0, ARGV[3], 'IDLE', ARGV[5], 'JUSTID')
return 1
