--[[
  Creates a workspace or sets its plan terms, from the API or from Stripe's subscription events.
  A new workspace starts its first cycle with the plan's allotment and flex on at the plan's
  default cap (R-FLX-1). A different plan, or the same plan on another interval, starts a new
  cycle: the old included remainder expires (or is forfeited, when the subscription ended:
  R-CYC-3) and the new allotment is granted (R-CYC-2). The same plan and interval take the new
  terms and keep the cycle; a block lifts only if they give flex room again. A cap the customer
  never set follows the plan's default.

  With a billing period (from Stripe) the cycle is that period: a new one starts at the period's
  start, and a later period of the same plan is a renewal (R-CYC-1) — granted once: a period
  that is already the current cycle (the cycle rolled by itself, or the event came twice)
  changes nothing. After the period, cycles follow on from its end. With the source event's
  time, an event older than the last one applied changes nothing (R-WH-2).

  Input:
    KEYS[1] engine    KEYS[2] ledger    KEYS[3] meta
    ARGV[1] now (ms)          ARGV[2] plan id        ARGV[3] interval in months
    ARGV[4] allotment units   ARGV[5] flex allowed 0|1
    ARGV[6] flex price (1/10 000 cent per credit)    ARGV[7] default cap (cents)
    ARGV[8] period start (ms) or ''    ARGV[9] period end (ms) or ''
    ARGV[10] source event time (s) or ''
    ARGV[11] what happens to the old included remainder: expiry | forfeit
    ARGV[12..] field, value pairs of descriptive metadata stored as they are
  Reply: {outcome, ...state}; outcome 'created' | 'plan_changed' | 'renewed' | 'updated' |
    'stale' (an older event: nothing changed)
]]
--- @include "core"

local K = {engine = KEYS[1], ledger = KEYS[2], meta = KEYS[3]}
local now = tonumber(ARGV[1])
local plan = ARGV[2]
local iv = tonumber(ARGV[3])
local allot = tonumber(ARGV[4])
local periodStart = tonumber(ARGV[8])
local periodEnd = tonumber(ARGV[9])
local eventAt = tonumber(ARGV[10])
local expiryType = ARGV[11]

local s = loadState(K.engine)
local outcome = 'updated'
if not s then
  outcome = 'created'
  s = {incl = 0, inclGr = 0, pre = 0, lotSeq = 0, flexCyc = 0, cseq = 0, flexOn = 1, capCustom = 0, thrC = -1,
    blocked = '', subAt = 0,
    -- No usage records on any day yet: debits need not look for tables (core.lua idemKnown).
    iks = 0}
else
  if eventAt and (s.subAt or 0) > eventAt then
    local reply = {'stale'}
    for _, v in ipairs(stateReply(s)) do reply[#reply + 1] = v end
    return reply
  end
  roll(K, s, now)
  -- Another plan, or the same plan on another interval (an override), is a new cycle (R-CYC-2).
  if s.plan ~= plan or s.iv ~= iv then outcome = 'plan_changed'
  elseif periodStart and periodStart > s.cstart then outcome = 'renewed' end
end

set(s, 'plan', plan)
set(s, 'iv', iv)
set(s, 'allot', allot)
set(s, 'flexOk', tonumber(ARGV[5]))
set(s, 'price', tonumber(ARGV[6]))
set(s, 'capDef', tonumber(ARGV[7]))
if s.capCustom ~= 1 then set(s, 'capC', s.capDef) end

if outcome == 'updated' then
  unblockIfRoom(s)
  -- Stripe's word on the current period's end (a trial, a moved anchor).
  if periodStart == s.cstart and periodEnd and periodEnd ~= s.cend then
    set(s, 'anchor', periodEnd)
    set(s, 'cidx', -1)
    set(s, 'cend', periodEnd)
  end
else
  local at = periodStart or now
  local expiryRef = 'plan_change'
  if outcome == 'created' then expiryRef = '' end
  if outcome == 'renewed' then expiryRef = 'cycle:' .. fmt(s.cstart) end
  startCycle(K, s, at, expiryRef, 'cycle:' .. fmt(at), expiryType)
  set(s, 'cstart', at)
  if periodEnd then
    -- Cycles after the period follow on from its end: index -1 ends at the anchor.
    set(s, 'anchor', periodEnd)
    set(s, 'cidx', -1)
    set(s, 'cend', periodEnd)
  else
    set(s, 'anchor', at)
    set(s, 'cidx', 0)
    set(s, 'cend', addMonths(at, iv))
  end
end
if eventAt then set(s, 'subAt', eventAt) end
saveState(K.engine, s)
if #ARGV > 11 then redis.call('HSET', K.meta, unpack(ARGV, 12)) end

local reply = {outcome}
for _, v in ipairs(stateReply(s)) do reply[#reply + 1] = v end
return reply
