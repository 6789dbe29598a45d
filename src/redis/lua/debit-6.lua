--[[
  Spends credits: consume (all or nothing, R-CON-2) or record (as far as allowed, the rest a
  shortfall that blocks the workspace, R-CON-4), after rolling an ended cycle (R-CYC-1).
  Idempotent per key (R-CON-5): the same key and body answers the first reply again with the
  replay flag set; the same key with another body is a conflict.

  Input:
    KEYS[1] state    KEYS[2] lots    KEYS[3] lotbal    KEYS[4] ledger
    KEYS[5] flexm    hash "YYYY-MM" -> flex units used in that calendar month (R-FLX-5)
    KEYS[6] idem     the idempotency record of this key
    ARGV[1] now (ms)     ARGV[2] units (> 0)     ARGV[3] mode: consume | record
    ARGV[4] usage id     ARGV[5] body hash       ARGV[6] month "YYYY-MM" of now
    ARGV[7] idempotency TTL (s)                  ARGV[8] feature id or ''

  Reply (every element a string):
    {status, replayed, usageId, included, prepaid, flex, shortfall, reason, available, ...state}
      status 'ok' (debited) or 'refused' (consume only; nothing debited);
      reason: why not fully covered ('' when covered); available: units spendable now,
      '-1' when flex has no limit (refusals only, else '').
  Errors (as a one-element reply): {'not_found'} no such workspace; {'conflict'} key reused
  with a different body.
]]
--- @include "core"

local K = {state = KEYS[1], lots = KEYS[2], lotbal = KEYS[3], ledger = KEYS[4], flexm = KEYS[5]}
local now = tonumber(ARGV[1])
local units = tonumber(ARGV[2])
local mode = ARGV[3]
local usageId = ARGV[4]
local bodyHash = ARGV[5]

local replay = replayIdempotent(KEYS[6], bodyHash)
if replay then return replay end

local s = loadState(K.state)
if not s then return {'not_found'} end
roll(K, s, now)

local inc, pre, flex, short, reason = split(s, units)
local status = 'ok'
local avail = ''
if mode == 'consume' and short > 0 then
  status = 'refused'
  local room = flexRoom(s)
  if s.blocked ~= '' then avail = '0'
  elseif room < 0 then avail = '-1'
  else avail = fmt(s.incl + s.pre + room) end
  inc, pre, flex = 0, 0, 0
else
  local extra = nil
  if ARGV[8] ~= '' then extra = {'feature', ARGV[8]} end
  if inc > 0 then
    set(s, 'incl', s.incl - inc)
    ledger(K.ledger, now, 'consume', 'included', -inc, s.incl, usageId, extra)
  end
  if pre > 0 then takePrepaid(K, s, pre, now, 'consume', usageId, extra) end
  if flex > 0 then
    set(s, 'flexCyc', s.flexCyc + flex)
    redis.call('HINCRBY', KEYS[5], ARGV[6], flex)
    local fields = {'month', ARGV[6], 'cyc', fmt(s.cseq)}
    if extra then fields[5], fields[6] = 'feature', ARGV[8] end
    ledger(K.ledger, now, 'consume', 'flex', -flex, s.flexCyc, usageId, fields)
  end
  if short > 0 then
    set(s, 'blocked', reason)
    ledger(K.ledger, now, 'shortfall', 'none', -short, 0, usageId, extra)
  end
end
saveState(K.state, s)

local reply = {status, '0', usageId, fmt(inc), fmt(pre), fmt(flex), fmt(short), reason, avail}
for _, v in ipairs(stateReply(s)) do reply[#reply + 1] = v end
rememberIdempotent(KEYS[6], bodyHash, reply, ARGV[7])
return reply
