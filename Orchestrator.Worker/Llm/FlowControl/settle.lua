--[[
  settle: after a call, correct the tokens limit by the real usage and give the permit back.
  Giving back is moving the tokens TAT by (actual − estimated) × 60,000 / limit ms (negative
  returns capacity).

  Re-sent (through the worker's redis pipeline, after a timeout or a lost reply): a settlement is
  identified by its reservation's id; the first one to apply sets KEYS[4] (a marker that expires
  after ARGV[4] ms), and a repeat finds it and changes nothing, so capacity is never given back twice.

  KEYS[1]  tokens TAT  {orch}:llm:<provider>:tpm       KEYS[2]  permits  {orch}:llm:<provider>:permits
  KEYS[3]  learned limits {orch}:llm:<provider>:learned
  KEYS[4]  the settlement's marker {orch}:llm:<provider>:settled:<reservation id>
  ARGV[1]  tokens per minute, 0 = unknown (then the learned one)   ARGV[2]  actual − estimated tokens
  ARGV[3]  permit id, '' when none was taken                       ARGV[4]  the marker's lifetime, ms

  Returns 1 when settled now, 0 when this settlement had applied already.
]]
if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[4]) then
  return 0
end
local tpm, delta = tonumber(ARGV[1]), tonumber(ARGV[2])
if tpm == 0 then tpm = tonumber(redis.call('HGET', KEYS[3], 'tpm') or '0') end
if tpm > 0 and delta ~= 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat > now or delta > 0 then
    tat = math.max(tat, now) + delta * 60000 / tpm
    if tat > now then
      redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
    else
      redis.call('DEL', KEYS[1])
    end
  end
end
if ARGV[3] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[3])
end
return 1
