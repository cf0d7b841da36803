--[[
  submit: create a job and enqueue it, or answer for the job an idempotency key already created.
  One script, so N concurrent submits with one new key create exactly one job and one stream entry.

  KEYS[1]  job hash            {orch}:job:<id>
  KEYS[2]  jobs stream         {orch}:stream
  KEYS[3]  idempotency hash    {orch}:idem:<key>   (absent when the request carries no key)

  ARGV[1]  job id
  ARGV[2]  request fingerprint (SHA-256 of the normalised request)
  ARGV[3]  idempotency key TTL, ms
  ARGV[4]  the 202 response body, stored so a replay answers byte for byte the same
  ARGV[5…] job hash field, value, field, value, …

  Returns  {'created', jobId}
         | {'replayed', jobId, responseBody}   same key, same request
         | {'conflict', jobId}                 same key, other request
]]
if #KEYS >= 3 then
  local known = redis.call('HMGET', KEYS[3], 'jobId', 'fingerprint', 'response')
  if known[1] then
    if known[2] == ARGV[2] then
      return {'replayed', known[1], known[3]}
    end
    return {'conflict', known[1]}
  end
end

-- The stream entry first, so the hash is written once with its entryId (atomic either way).
local entryId = redis.call('XADD', KEYS[2], '*', 'jobId', ARGV[1])
local fields = {unpack(ARGV, 5)}
fields[#fields + 1] = 'entryId'
fields[#fields + 1] = entryId
redis.call('HSET', KEYS[1], unpack(fields))

if #KEYS >= 3 then
  redis.call('HSET', KEYS[3], 'jobId', ARGV[1], 'fingerprint', ARGV[2], 'response', ARGV[4])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end

return {'created', ARGV[1]}
