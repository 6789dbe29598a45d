--[[
  Reads a workspace's state, rolling an ended cycle first (R-CYC-1), so a read never shows
  the old cycle's included credits.

  Input:  KEYS[1] engine    KEYS[2] ledger    ARGV[1] now (ms)
  Reply:  {outcome, ...state} (fields in core's STATE_FIELDS order); outcome 'rolled' when
          this read rolled the cycle, else 'ok'
  Errors: {'not_found'}
]]
--- @include "core"

local K = {engine = KEYS[1], ledger = KEYS[2]}
local s = loadState(K.engine)
if not s then return {'not_found'} end
local rolled = roll(K, s, tonumber(ARGV[1]))
saveState(K.engine, s)
local reply = {rolled and 'rolled' or 'ok'}
for _, v in ipairs(stateReply(s)) do reply[#reply + 1] = v end
return reply
