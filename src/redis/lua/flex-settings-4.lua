--[[
  Flex settings: the switch (R-FLX-1, R-FLX-3), the cap (R-FLX-2) and the operator's billing
  threshold (R-FLX-4). Enabling flex that was off sets the plan's default cap (R-FLX-1), unless
  the same call sets a cap; a cap set here is the customer's own and survives plan changes.
  A block lifts when the change gives flex room again (R-CON-4). A change that leaves the
  workspace at or past a limit raises those alerts (R-ALR-1): a cap lowered under what was used,
  flex switched off with nothing left.

  Input:
    KEYS[1] engine    KEYS[2] ledger    KEYS[3] alerts    KEYS[4] alertq (see debit.lua)
    ARGV[1] now (ms)
    ARGV[2] enabled: '' keep | '0' | '1'
    ARGV[3] cap (cents): '' keep | '-1' remove | n >= 100
    ARGV[4] billing threshold (cents): '' keep | '-1' remove | n >= 0
    ARGV[5] '1' when outbound alert webhooks are configured
  Reply:  {'ok', ...state, alerts}
  Errors: {'not_found'}
]]
--- @include "core"

local K = {engine = KEYS[1], ledger = KEYS[2], alerts = KEYS[3], alertq = KEYS[4]}
local now = tonumber(ARGV[1])
local s = loadState(K.engine)
if not s then return {'not_found'} end
roll(K, s, now)

if ARGV[2] ~= '' then
  local on = tonumber(ARGV[2])
  if on == 1 and s.flexOn ~= 1 then
    set(s, 'capC', s.capDef)
    set(s, 'capCustom', 0)
  end
  set(s, 'flexOn', on)
end
if ARGV[3] ~= '' then
  set(s, 'capC', tonumber(ARGV[3]))
  set(s, 'capCustom', 1)
end
if ARGV[4] ~= '' then set(s, 'thrC', tonumber(ARGV[4])) end
unblockIfRoom(s)
local alerts = raiseAlerts(K, s, now, false, ARGV[5] == '1')
saveState(K.engine, s)

local reply = {'ok'}
for _, v in ipairs(stateReply(s)) do reply[#reply + 1] = v end
reply[#reply + 1] = alerts
return reply
