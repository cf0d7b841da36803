--[[
  tenant-tokens: charges the tokens an LLM call used (as the provider reported them) to its
  tenant's Tenants:{t}:TokensPerMinute, a GCRA on Redis's clock (TIME) with a burst of one minute:
  the theoretical arrival time moves on by tokens × 60,000 / TokensPerMinute ms. dispatch.lua holds
  the tenant's jobs back (unstarted, holding no worker slot) while it is more than a minute ahead.
  Calls already running when the limit is reached still finish: the limit is met over a minute,
  overshot by at most the tokens of the calls in flight.

  KEYS[1]  {orch}:tenant:<t>:tpm   GCRA theoretical arrival time, Unix ms; expires once in the past
           (beside it KEYS[1]:limit, the TokensPerMinute it was charged at: tokenClock in clock.lua)
  ARGV[1]  tokens used             ARGV[2]  the tenant's TokensPerMinute

  Re-sent after it applied, the tokens count twice: the limit is stricter for a moment, never looser.

  Returns the theoretical arrival time minus now, ms (> 60,000: the tenant is held back).
]]
--@include clock

local now = tonumber(nowMs())
local limit = tonumber(ARGV[2])
local tat = math.max(tokenClock(KEYS[1], limit, now), now) + tonumber(ARGV[1]) * 60000 / limit
local ttl = string.format('%d', math.ceil(tat - now) + 1000)
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', ttl)
redis.call('SET', KEYS[1] .. ':limit', ARGV[2], 'PX', ttl)
return math.floor(tat - now)
