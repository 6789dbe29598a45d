--[[
  Takes a billing link's record (issue 11 §1, src/billing/billing-service.ts), once: of any
  number of opens at once, exactly one finds it open, and each other one finds the tombstone
  the first left (never nothing, which would read as an expired link).
  An open record becomes its tombstone in the same step: `used`, or `expired` when it was past
  its time; the tombstone keeps the link's way back (return URL, locale) for the refusal page.

  Input:
    KEYS[1] the link's record: JSON {state: open|used|expired, workspaceId, locale, returnUrl,
            expiresAt (ms)}
    ARGV[1] now (ms)   ARGV[2] the tombstone's lifetime (s)
  Reply: {the record as this call leaves it (nil when there is none; the tombstone, `used` or
         `expired`, when this call took it open), 1 when this call took it open, else 0}
  Errors: none (a record that is not such JSON is answered as it is, not taken)
]]
local v = redis.call('GET', KEYS[1])
if not v then return {false, 0} end
local ok, r = pcall(cjson.decode, v)
if not ok or type(r) ~= 'table' or r.state ~= 'open' or type(r.expiresAt) ~= 'number' then return {v, 0} end
r.state = r.expiresAt <= tonumber(ARGV[1]) and 'expired' or 'used'
local tomb = cjson.encode(r)
redis.call('SET', KEYS[1], tomb, 'EX', ARGV[2])
return {tomb, 1}
