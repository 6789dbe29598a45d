--[[
  Shared by the Stripe rate bucket's scripts (stripe-rate-take, stripe-rate-limited): one hash
  in one key (a hash tag of its own, so it sits in one Redis Cluster slot), shared by every
  process and every caller of Stripe.
    tat   the time (ms, fractional) from which the next call may be sent: each call taken
          moves it on by one interval (1000 / rate), so callers that take at the same moment are
          given consecutive slots instead of racing for the same one (GCRA, no burst)
    rate  the current rate (requests/s): the configured one, or less after a 429
    at    when rate was last brought up to date (ms)
    cut   when a 429 last lowered rate (ms)
]]
local function ms(n)
  return string.format('%.3f', n)
end

--[[
  The rate now. A cut holds for `hold` ms; after that the rate climbs back to `full` by
  `recover` requests/s each second. 429s that keep coming (one cut per hold) so never meet a
  climb in between: the rate falls until Stripe stops refusing.
]]
local function currentRate(b, now, full, recover, hold)
  local rate = tonumber(b.rate) or full
  local from = tonumber(b.at) or now
  local cut = tonumber(b.cut)
  if cut and cut + hold > from then from = cut + hold end
  if now > from then rate = rate + (now - from) * recover / 1000 end
  if rate > full then rate = full end
  return rate
end

local function loadBucket(key)
  local v = redis.call('HMGET', key, 'tat', 'rate', 'at', 'cut')
  return {tat = v[1], rate = v[2], at = v[3], cut = v[4]}
end
