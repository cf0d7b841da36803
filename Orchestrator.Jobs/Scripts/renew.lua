--[[
  renew: extend the lease of a job the caller still holds, by resetting the idle time of its
  pending stream entry (XAUTOCLAIM in other workers only takes entries idle past the lease).

  KEYS[1]  job hash            KEYS[2]  jobs stream
  ARGV[1]  consumer group      ARGV[2]  stream entry id
  ARGV[3]  lease token         ARGV[4]  consumer name

  Returns  1 when the lease is still the caller's, 0 when another worker has claimed the job.
]]
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[3] then
  return 0
end
redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[4], 0, ARGV[2], 'JUSTID')
return 1
