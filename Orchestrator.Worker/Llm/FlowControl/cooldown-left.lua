--[[
  cooldown-left: how long a deployment's cooldown still runs, on Redis's clock. Read-only. Asked
  again just before a call goes out when the reservation's answer reached the worker late (see
  DeploymentFlowControl.FreshFor): a 429 may have been written since reserve.lua looked. Asked
  with KEYS[2] to renew a clear reading ahead of its lapse (ClearReadings): clear is what
  reserve.lua would answer for a deployment without configured limits, {0, 0}.

  KEYS[1]  cooldown         {orch}:llm:<provider>:cooldown   not-before time, Unix ms (string)
  KEYS[2]  learned limits   {orch}:llm:<provider>:learned    optional; hash: rpm, tpm (from 429s)

  Returns the ms left, 0 when calls may go; -1 when KEYS[2] is given, no cooldown runs and the
  deployment has limits learnt from 429s (its calls are reserved, not read).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local notBefore = tonumber(redis.call('GET', KEYS[1]) or '0')
if notBefore > now then
  return notBefore - now
end
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
return 0
