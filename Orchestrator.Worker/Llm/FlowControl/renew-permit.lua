--[[
  renew-permit: a call still running keeps its concurrency permit for another lease, and takes it
  again if it lapsed while the call ran (Redis stalled longer than a lease: a restart, CLIENT PAUSE):
  the permits count the calls that run, so a deployment over its MaxConcurrency after such a stall
  starts nothing more until it is under it. With ZADD XX the lapsed permit stayed given back, and
  the fleet started calls beside those still running: an audit saw 8 in flight at a MaxConcurrency
  of 4 for 8.8 s after a 10 s CLIENT PAUSE, as renew.lua's tenant permits once did.

  KEYS[1]  permits  {orch}:llm:<provider>:permits
  ARGV[1]  permit id        ARGV[2]  lease, ms

  Re-sent: the same expiry again. Only sent while the call runs: its settlement (which removes the
  permit) waits for the renewals to end.

  Returns 1 when renewed, 0 when the permit had lapsed and was taken again.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1]) ~= false
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return held and 1 or 0
