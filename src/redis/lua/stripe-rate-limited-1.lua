--[[
  Stripe answered a call with 429: the shared rate drops to `factor` of what it is now (not
  below `floor`), for every process, holds there for `hold` ms and then climbs back (see
  includes/stripe-rate.lua). The 429s of one moment are one signal: a 429 while a cut holds
  does not cut again.

  Input:
    KEYS[1] bucket   hash tat, rate, at, cut (see includes/stripe-rate.lua)
    ARGV[1] now (ms)
    ARGV[2] the configured rate (requests/s, > 0)
    ARGV[3] how fast the rate climbs back (requests/s gained per second)
    ARGV[4] how long a cut holds (ms)
    ARGV[5] factor (0 < factor < 1)
    ARGV[6] floor (requests/s, > 0)
  Reply: the rate now (requests/s), as a string with three decimals
  Errors: none
]]
--- @include "stripe-rate"

local key = KEYS[1]
local now, full, recover, hold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local factor, floor = tonumber(ARGV[5]), tonumber(ARGV[6])
local b = loadBucket(key)
local rate = currentRate(b, now, full, recover, hold)
local cut = tonumber(b.cut)
if cut == nil or now >= cut + hold then
  rate = rate * factor
  if rate < floor then rate = floor end
  cut = now
end
local at = math.max(now, tonumber(b.at) or now)
redis.call('HSET', key, 'rate', ms(rate), 'at', ms(at), 'cut', ms(cut))
redis.call('PEXPIRE', key, 60000 + math.ceil(math.max(0, (tonumber(b.tat) or now) - now)))
return ms(rate)
