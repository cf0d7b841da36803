--[[
  read-events: up to ARGV[2] of a job's events after the one a client saw last (GET /jobs/{id}/events),
  read in one step so that the list's trimming (includes/job.lua, job events) cannot shift them
  between reading the number of events dropped and the list.

  KEYS[1]  job hash            {orch}:job:<id>       (eventsDropped)
  KEYS[2]  the job's events    {orch}:job:<id>:eventlog
  KEYS[3]  the job's events as a stream, from before they moved to the list   {orch}:job:<id>:events

  ARGV[1]  after: '0' from the start, 'n' the id of the last event seen, or '<ms>-<seq>' an id from
           the stream (read the stream after it, then the list from its start)
  ARGV[2]  count
  ARGV[3]  most bytes of the list's elements returned past the first (optional; none: no bound). A
           stream holds what it read until its client takes it: 100 events of a fast model's long
           answer were ~4 MB per stalled client.

  Returns {stream entries, first id, list elements, known, cut}: the stream's entries as XRANGE
  answers them (only for '0' or a stream id; none for a job that never had the stream), then the
  list's elements, the first of which is event 'first id'; known is 0 when 'after' is later than the
  job's last event (a number above the events appended so far, or a stream id after the stream's
  last entry or of a job without one), and then nothing is read: events are only appended, so no
  client can have seen that id, and waiting for it would skip every event up to it. cut is 1 when
  ARGV[3] left elements out: more follow at once.
]]
local after, count = ARGV[1], tonumber(ARGV[2])
local legacy, seen = {}, tonumber(after)
if seen == nil and #redis.call('XRANGE', KEYS[3], after, '+', 'COUNT', 1) == 0 then
  return {{}, 0, {}, 0}
end
if seen == nil or seen == 0 then
  legacy = redis.call('XRANGE', KEYS[3], seen == 0 and '-' or '(' .. after, '+', 'COUNT', count)
  count, seen = count - #legacy, 0
end
if count <= 0 then
  return {legacy, 0, {}, 1}
end
local dropped = tonumber(redis.call('HGET', KEYS[1], 'eventsDropped') or '0')
if seen > dropped + redis.call('LLEN', KEYS[2]) then
  return {{}, 0, {}, 0}
end
local start = math.max(seen - dropped, 0)
local elements = redis.call('LRANGE', KEYS[2], start, start + count - 1)
local budget, cut = tonumber(ARGV[3] or ''), 0
if budget then
  local bytes = 0
  for i = 1, #elements do
    bytes = bytes + #elements[i]
    if i > 1 and bytes > budget then
      for j = #elements, i, -1 do
        elements[j] = nil
      end
      cut = 1
      break
    end
  end
end
return {legacy, dropped + start + 1, elements, 1, cut}
