--[[
  Spends credits for one or more usage events of one workspace, in order: consume (all or
  nothing, R-CON-2) or record (as far as allowed, the rest a shortfall that blocks the
  workspace, R-CON-4), after rolling an ended cycle (R-CYC-1). Many events in one call share
  one state read and one state write (POST /v1/usage/batch groups its events by workspace).
  Each event is idempotent per key (R-CON-5): the same key and body answer the first reply
  again with the replay flag set; the same key with another body is a conflict.

  The number of keys is given per call: 5 + one idempotency key per event.
  Input:
    KEYS[1] engine    KEYS[2] lots    KEYS[3] lotbal    KEYS[4] ledger
    KEYS[5] flexm    hash "YYYY-MM" -> flex units used in that calendar month (R-FLX-5)
    KEYS[5 + i]      the idempotency record of event i
    ARGV[1] now (ms)    ARGV[2] month "YYYY-MM" of now    ARGV[3] idempotency TTL (s)
    ARGV[4 + 5(i-1) ..] event i: units (> 0), mode (consume | record), usage id, body hash,
                        feature id or ''

  Reply: one string per event, in order: these fields joined by tabs (one bulk string per
  event decodes several times faster in the client than a list of fields)
    status, replayed, usageId, included, prepaid, flex, shortfall, reason, available,
    incl, pre, flexCyc, price, blocked
      status 'ok' (debited) or 'refused' (consume only; nothing debited); reason: why not
      fully covered ('' when covered); available: units spendable now (refusals only, else
      ''); then the balances after the event: included, prepaid,
      flex used this cycle, flex price, block reason.
    'conflict' for an event whose key was used with a different body.
  Errors (as the whole reply): {'not_found'} no such workspace.
]]
--- @include "core"

local K = {engine = KEYS[1], lots = KEYS[2], lotbal = KEYS[3], ledger = KEYS[4], flexm = KEYS[5]}
local now = tonumber(ARGV[1])
local month = ARGV[2]
local ttl = ARGV[3]

local s = loadState(K.engine)
if not s then return {'not_found'} end
roll(K, s, now)

local function debitOne(units, mode, usageId, feature)
  local inc, pre, flex, short, reason = split(s, units)
  if mode == 'consume' and short > 0 then
    -- A refusal means flex has a limit (or a block): what is spendable is finite.
    local avail = 0
    if s.blocked == '' then avail = s.incl + s.pre + flexRoom(s) end
    return {'refused', '0', usageId, '0', '0', '0', fmt(short), reason, fmt(avail)}
  end
  local extra = nil
  if feature ~= '' then extra = {'feature', feature} end
  if inc > 0 then
    set(s, 'incl', s.incl - inc)
    ledger(K.ledger, now, 'consume', 'included', -inc, s.incl, usageId, extra)
  end
  if pre > 0 then takePrepaid(K, s, pre, now, 'consume', usageId, extra) end
  if flex > 0 then
    set(s, 'flexCyc', s.flexCyc + flex)
    redis.call('HINCRBY', K.flexm, month, fmt(flex))
    local fields = {'month', month, 'cyc', fmt(s.cseq)}
    if extra then fields[5], fields[6] = 'feature', feature end
    ledger(K.ledger, now, 'consume', 'flex', -flex, s.flexCyc, usageId, fields)
  end
  if short > 0 then
    if s.blocked == '' then set(s, 'blocked', reason) end
    ledger(K.ledger, now, 'shortfall', 'none', -short, 0, usageId, extra)
  end
  return {'ok', '0', usageId, fmt(inc), fmt(pre), fmt(flex), fmt(short), reason, ''}
end

local replies = {}
for i = 1, #KEYS - 5 do
  local a = 3 + (i - 1) * 5
  local idem = KEYS[5 + i]
  local reply = replayIdempotent(idem, ARGV[a + 4])
  if not reply then
    local fields = debitOne(tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], ARGV[a + 5])
    fields[10], fields[11], fields[12], fields[13], fields[14] =
      fmt(s.incl), fmt(s.pre), fmt(s.flexCyc), fmt(s.price), s.blocked
    reply = table.concat(fields, '\t')
    rememberIdempotent(idem, ARGV[a + 4], reply, ttl)
  end
  replies[i] = reply
end
saveState(K.engine, s)
return replies
