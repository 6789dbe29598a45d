--[[
  Takes one Stripe call from the shared rate bucket, just before the call is sent (R-FLX-6).
  Always succeeds: the call is given the next free slot, and the reply says how long to wait
  for it. A slot is never handed out twice, so N processes taking at once send at most `rate`
  calls a second together.

  Input:
    KEYS[1] bucket   hash tat, rate, at, cut (see includes/stripe-rate.lua)
    ARGV[1] now (ms)
    ARGV[2] the configured rate (requests/s, > 0)
    ARGV[3] how fast the rate climbs back after a 429 (requests/s gained per second)
    ARGV[4] how long a cut holds before the climb starts (ms)
    ARGV[5] the furthest ahead the next slot may be (ms): past it, the clock has stepped back
            (a host's clock set back, another host's running behind) and the schedule
            starts again from now rather than holding every call until the clock catches up
  Reply: the milliseconds to wait before sending (0: send now), an integer
  Errors: none
]]
--- @include "stripe-rate"

local key = KEYS[1]
local now, full, recover, hold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local maxAhead = tonumber(ARGV[5])
local b = loadBucket(key)
local rate = currentRate(b, now, full, recover, hold)
local tat = tonumber(b.tat) or now
-- An idle bucket does not save slots up: no burst above the rate.
if tat < now or tat > now + maxAhead then tat = now end
local wait = tat - now
redis.call('HSET', key, 'tat', ms(tat + 1000 / rate), 'rate', ms(rate), 'at', ms(math.max(now, tonumber(b.at) or now)))
-- Tidy when idle: an expired bucket starts again at the full rate.
redis.call('PEXPIRE', key, math.ceil(wait) + 60000)
return math.ceil(wait)
