-- The time on Redis's clock, Unix ms, as a string: every timestamp a script writes comes from the
-- one clock all workers and APIs share, not from a caller's own (which may be skewed). TIME is not
-- deterministic; writing after it is allowed because Redis replicates a script by its effects
-- (the only mode since 7.0), so a replica stores the same value.
local function nowMs()
  local time = redis.call('TIME')
  return string.format('%d', tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
end

-- A tenant's token clock (its TokensPerMinute GCRA, Unix ms) under `limit`: `key` holds the clock,
-- `key`:limit the limit it was charged at. Tokens owed stay owed when the limit changes, so the time
-- ahead is scaled by old / new: a clock charged at 10 a minute stood 55 minutes ahead, and raised to
-- 100,000 the tenant still waited those 55 minutes (an outside audit). A clock without its limit
-- (charged by an earlier worker) is taken as it is.
local function tokenClock(key, limit, now)
  local stored = redis.call('MGET', key, key .. ':limit')
  local tat, at = tonumber(stored[1]) or 0, tonumber(stored[2])
  if at and at ~= limit and tat > now then
    return now + (tat - now) * at / limit
  end
  return tat
end
