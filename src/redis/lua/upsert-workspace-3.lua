--[[
  Creates a workspace or sets its plan terms. A new workspace starts its first cycle now with
  the plan's allotment and flex on at the plan's default cap (R-FLX-1). A different plan
  starts a new cycle now: the old included remainder expires, the new allotment is granted
  (R-CYC-2), and so does the same plan on another interval. The same plan on the same interval
  takes the new terms and keeps its cycle; a block lifts only if they give flex room again.
  A cap the customer never set follows the plan's default.

  Input:
    KEYS[1] engine    KEYS[2] ledger    KEYS[3] meta
    ARGV[1] now (ms)          ARGV[2] plan id        ARGV[3] interval in months
    ARGV[4] allotment units   ARGV[5] flex allowed 0|1
    ARGV[6] flex price (1/10 000 cent per credit)    ARGV[7] default cap (cents)
    ARGV[8..] field, value pairs of descriptive metadata stored as they are
  Reply: {outcome, ...state}; outcome 'created' | 'plan_changed' | 'updated'
]]
--- @include "core"

local K = {engine = KEYS[1], ledger = KEYS[2], meta = KEYS[3]}
local now = tonumber(ARGV[1])
local plan = ARGV[2]
local iv = tonumber(ARGV[3])
local allot = tonumber(ARGV[4])

local s = loadState(K.engine)
local outcome = 'updated'
if not s then
  outcome = 'created'
  s = {incl = 0, inclGr = 0, pre = 0, lotSeq = 0, flexCyc = 0, cseq = 0, flexOn = 1, capCustom = 0, thrC = -1,
    blocked = ''}
else
  roll(K, s, now)
  -- Another plan, or the same plan on another interval (an override), is a new cycle (R-CYC-2).
  if s.plan ~= plan or s.iv ~= iv then outcome = 'plan_changed' end
end

set(s, 'plan', plan)
set(s, 'iv', iv)
set(s, 'allot', allot)
set(s, 'flexOk', tonumber(ARGV[5]))
set(s, 'price', tonumber(ARGV[6]))
set(s, 'capDef', tonumber(ARGV[7]))
if s.capCustom ~= 1 then set(s, 'capC', s.capDef) end

if outcome == 'updated' then unblockIfRoom(s) end
if outcome ~= 'updated' then
  local expiryRef = 'plan_change'
  if outcome == 'created' then expiryRef = '' end
  startCycle(K, s, now, expiryRef, 'cycle:' .. fmt(now))
  set(s, 'anchor', now)
  set(s, 'cidx', 0)
  set(s, 'cstart', now)
  set(s, 'cend', addMonths(now, iv))
end
saveState(K.engine, s)
if #ARGV > 7 then redis.call('HSET', K.meta, unpack(ARGV, 8)) end

local reply = {outcome}
for _, v in ipairs(stateReply(s)) do reply[#reply + 1] = v end
return reply
