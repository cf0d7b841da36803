-- The time on Redis's clock, Unix ms, as a string: every timestamp a script writes comes from the
-- one clock all workers and APIs share, not from a caller's own (which may be skewed). TIME is not
-- deterministic; writing after it is allowed because Redis replicates a script by its effects
-- (the only mode since 7.0), so a replica stores the same value.
local function nowMs()
  local time = redis.call('TIME')
  return string.format('%d', tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
end
