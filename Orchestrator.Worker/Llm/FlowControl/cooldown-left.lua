--[[
  cooldown-left: how long a deployment's cooldown still runs, on Redis's clock. Read-only; asked
  again just before a call goes out when the reservation's answer reached the worker late (see
  DeploymentFlowControl.FreshFor): a 429 may have been written since reserve.lua looked.

  KEYS[1]  cooldown  {orch}:llm:<provider>:cooldown   not-before time, Unix ms (string)

  Returns the ms left, 0 when calls may go.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local notBefore = tonumber(redis.call('GET', KEYS[1]) or '0')
if notBefore > now then
  return notBefore - now
end
return 0
