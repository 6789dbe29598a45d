--[[
  A signed grant or debit of included or prepaid credit: a manual adjustment, or a bought
  prepaid lot (type 'grant'). A positive prepaid amount is a new lot named by the ref; a
  negative one takes from the oldest lots (R-CON-1). No balance goes below zero. A positive
  amount lifts a block (R-CON-4). Idempotent per key, like debit. A debit raises the alerts it
  crosses (R-ALR-1), as a usage debit does.

  Input:
    KEYS[1] engine    KEYS[2] lots    KEYS[3] lotbal    KEYS[4] ledger    KEYS[5] idem
    KEYS[6] alerts    KEYS[7] alertq (see debit.lua)
    ARGV[1] now (ms)    ARGV[2] kind: included | prepaid    ARGV[3] signed units (non-zero)
    ARGV[4] ref (also the lot id of a prepaid grant)        ARGV[5] body hash
    ARGV[6] idempotency TTL (s)    ARGV[7] entry type: grant | adjustment    ARGV[8] reason
    ARGV[9] '1' when outbound alert webhooks are configured
  Reply: {status, replayed, ...state, alerts}; status 'ok', or (nothing changed)
    'insufficient_balance' or 'duplicate_lot' (a lot with this ref was granted before); alerts
    as in debit.lua ("<id>=<name>" joined by commas)
  Errors: {'not_found'}, {'conflict'}
]]
--- @include "core"

local K = {engine = KEYS[1], lots = KEYS[2], lotbal = KEYS[3], ledger = KEYS[4], alerts = KEYS[6], alertq = KEYS[7]}
local now = tonumber(ARGV[1])
local kind = ARGV[2]
local units = tonumber(ARGV[3])
local ref = ARGV[4]
local typ = ARGV[7]

local replay = replayIdempotent(KEYS[5], ARGV[5])
if replay == 'conflict' then return {'conflict'} end
if replay then return splitTabs(replay) end

local s = loadState(K.engine)
if not s then return {'not_found'} end
roll(K, s, now)

local status = 'ok'
local extra = nil
if ARGV[8] ~= '' then extra = {'reason', ARGV[8]} end
if kind == 'included' then
  if s.incl + units < 0 then
    status = 'insufficient_balance'
  else
    set(s, 'incl', s.incl + units)
    set(s, 'inclGr', s.inclGr + units)
    ledger(K.ledger, now, typ, 'included', units, s.incl, ref, extra)
  end
elseif units > 0 and redis.call('HEXISTS', K.lotbal, ref) == 1 then
  status = 'duplicate_lot'
elseif units > 0 then
  set(s, 'lotSeq', s.lotSeq + 1)
  set(s, 'pre', s.pre + units)
  redis.call('ZADD', K.lots, s.lotSeq, ref)
  redis.call('HSET', K.lotbal, ref, fmt(units))
  local fields = {'lot', ref}
  if extra then fields[3], fields[4] = extra[1], extra[2] end
  ledger(K.ledger, now, typ, 'prepaid', units, s.pre, ref, fields)
elseif s.pre + units < 0 then
  status = 'insufficient_balance'
else
  takePrepaid(K, s, -units, now, typ, ref, extra)
end
if status == 'ok' and units > 0 then set(s, 'blocked', '') end
local alerts = ''
if status == 'ok' and units < 0 then alerts = raiseAlerts(K, s, now, false, ARGV[9] == '1') end
saveState(K.engine, s)

local reply = {status, '0'}
for _, v in ipairs(stateReply(s)) do reply[#reply + 1] = v end
reply[#reply + 1] = alerts
if status == 'ok' then rememberIdempotent(KEYS[5], ARGV[5], table.concat(reply, '\t'), ARGV[6]) end
return reply
