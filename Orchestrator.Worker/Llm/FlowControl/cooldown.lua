--[[
  cooldown: a 429 asked every caller of a deployment to wait. Extend its not-before time, never
  shorten it (a stale short answer must not cut a fresh long one). Idempotent: re-sending keeps
  the later time.

  KEYS[1]  cooldown  {orch}:llm:<provider>:cooldown   not-before time, Unix ms (string)
  ARGV[1]  the wait the provider announced, ms

  Returns the not-before time in force, Unix ms.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], string.format('%d', until_), 'PX', tonumber(ARGV[1]) + 1000)
  return until_
end
return current
