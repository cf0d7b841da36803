--[[
  cooldown: a 429 asked every caller of a deployment to wait. Extend its not-before time, never
  shorten it (a stale short answer must not cut a fresh long one). Where the deployment's limits
  are not configured, remember those the 429 announced (x-ratelimit-limit-*), for an hour. Then
  start each known limit full at the cooldown's end (TAT = not-before + burst): calls resume at the
  limit's pace instead of all at once, which would only earn the next 429. Idempotent: re-sending
  keeps the later time and the same limits.

  KEYS[1]  cooldown       {orch}:llm:<provider>:cooldown   not-before time, Unix ms (string)
  KEYS[2]  learned limits {orch}:llm:<provider>:learned    hash: rpm, tpm
  KEYS[3]  requests TAT   {orch}:llm:<provider>:rpm        KEYS[4]  tokens TAT  {orch}:llm:<provider>:tpm

  ARGV[1]  the wait the provider announced, ms
  ARGV[2]  configured requests per minute, 0 = unknown    ARGV[3]  configured tokens per minute, 0 = unknown
  ARGV[4]  announced requests per minute, 0 = none        ARGV[5]  announced tokens per minute, 0 = none
  ARGV[6]  burst, ms
  ARGV[7]  '1' when the 429 announced no wait (ARGV[1] is then the least wait), else ''
  KEYS[5]  unannounced backoff {orch}:llm:<provider>:backoff   the last unannounced wait, ms (optional)

  A 429 that announces no wait (no header, no body field: a gateway's, a self-hosted server's) waits
  twice the last such wait, up to 32 s, when it is the first of a round (the cooldown had ended): each
  waited the least wait, 1 s, and a fleet's waiting jobs called again every second, 11-30 times a
  second (an outside audit). The 429s of the same round, answered while the cooldown it set runs,
  double nothing. Forgotten after four times its wait without one.

  Returns how long the cooldown in force runs from now, ms.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local wait = tonumber(ARGV[1])
if ARGV[7] == '1' and KEYS[5] and now >= current then
  local last = tonumber(redis.call('GET', KEYS[5]) or '0')
  wait = math.min(math.max(wait, last * 2), 32000)
  redis.call('SET', KEYS[5], string.format('%d', wait), 'PX', string.format('%d', wait * 4))
end
local until_ = math.max(now + wait, current)
redis.call('SET', KEYS[1], string.format('%d', until_), 'PX', until_ - now + 1000)

local rpm, tpm = tonumber(ARGV[2]), tonumber(ARGV[3])
if rpm == 0 and tonumber(ARGV[4]) > 0 then
  rpm = tonumber(ARGV[4])
  redis.call('HSET', KEYS[2], 'rpm', rpm)
  redis.call('PEXPIRE', KEYS[2], 3600000)
end
if tpm == 0 and tonumber(ARGV[5]) > 0 then
  tpm = tonumber(ARGV[5])
  redis.call('HSET', KEYS[2], 'tpm', tpm)
  redis.call('PEXPIRE', KEYS[2], 3600000)
end

local full = until_ + tonumber(ARGV[6])
for i, limit in ipairs({rpm, tpm}) do
  if limit > 0 then
    local key = KEYS[2 + i]
    if tonumber(redis.call('GET', key) or '0') < full then
      redis.call('SET', key, string.format('%.3f', full), 'PX', full - now + 1000)
    end
  end
end
return until_ - now
