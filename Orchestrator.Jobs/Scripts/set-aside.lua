--[[
  set-aside: a worker found a job it cannot run (its hash did not parse in the worker) and sets it
  aside: failed, dead-lettered with error type 'corrupt', its entry acknowledged. Fenced by the
  lease token; re-sent after it applied, it answers 0 and changes nothing (the lease is gone).

  KEYS[1]  jobs stream         KEYS[2]  dead-letter sorted set
  KEYS[3]  job hash            KEYS[4]  job history list (earlier jobs: includes/job.lua [history])
  ARGV[1]  consumer group      ARGV[2]  lease token
  ARGV[3]  stream entry id     ARGV[4]  why, for the job's error message

  Returns  1 when set aside, 0 when the caller no longer held the lease.
]]
local stream, deadLetters = KEYS[1], KEYS[2]

--@include clock
--@include job

if redis.call('HGET', KEYS[3], 'lease') ~= ARGV[2] then
  return 0
end
setAside(stream, ARGV[1], deadLetters, KEYS[3], KEYS[4], ARGV[3], ARGV[4], nowMs())
return 1
