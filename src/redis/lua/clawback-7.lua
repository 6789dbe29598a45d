--[[
  Takes back the refunded share of a prepaid lot (R-PRE-3): as far as the lot is unspent; the
  rest is booked as a shortfall. The target is cumulative (all refunds of the purchase so far),
  so a repeated or partial-then-full refund takes back only what is new. Taking credits back
  raises the alerts it crosses (R-ALR-1), e.g. credits exhausted.

  Input:
    KEYS[1] engine    KEYS[2] lots    KEYS[3] lotbal    KEYS[4] ledger
    KEYS[5] lotclaw   hash lot id -> units already taken back or booked as shortfall
    KEYS[6] alerts    KEYS[7] alertq (see debit.lua)
    ARGV[1] now (ms)    ARGV[2] lot id    ARGV[3] cumulative units to take back    ARGV[4] ref
    ARGV[5] '1' when outbound alert webhooks are configured
  Reply: {status, taken, shortfall, ...state, alerts}; status 'ok' or 'noop' (nothing new to
    take back); alerts as in debit.lua
  Errors: {'not_found'} no such workspace; {'no_lot'} no such lot
]]
--- @include "core"

local K = {engine = KEYS[1], lots = KEYS[2], lotbal = KEYS[3], ledger = KEYS[4], alerts = KEYS[6], alertq = KEYS[7]}
local now = tonumber(ARGV[1])
local lot = ARGV[2]
local target = tonumber(ARGV[3])
local ref = ARGV[4]

local s = loadState(K.engine)
if not s then return {'not_found'} end
local left = tonumber(redis.call('HGET', K.lotbal, lot))
if not left then return {'no_lot'} end
roll(K, s, now)

local already = tonumber(redis.call('HGET', KEYS[5], lot)) or 0
local want = target - already
local status, take, short = 'noop', 0, 0
if want > 0 then
  status = 'ok'
  take = math.min(left, want)
  short = want - take
  if take > 0 then
    redis.call('HSET', K.lotbal, lot, fmt(left - take))
    if left - take == 0 then redis.call('ZREM', K.lots, lot) end
    set(s, 'pre', s.pre - take)
    ledger(K.ledger, now, 'refund', 'prepaid', -take, s.pre, ref, {'lot', lot})
  end
  if short > 0 then ledger(K.ledger, now, 'shortfall', 'none', -short, 0, ref, {'lot', lot}) end
  redis.call('HINCRBY', KEYS[5], lot, fmt(want))
end
local alerts = ''
if take > 0 then alerts = raiseAlerts(K, s, now, false, ARGV[5] == '1') end
saveState(K.engine, s)

local reply = {status, fmt(take), fmt(short)}
for _, v in ipairs(stateReply(s)) do reply[#reply + 1] = v end
reply[#reply + 1] = alerts
return reply
