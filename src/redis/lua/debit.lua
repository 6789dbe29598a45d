--[[
  Spends credits for one or more usage events of one workspace, in order: consume (all or
  nothing, R-CON-2) or record (as far as allowed, the rest a shortfall that blocks the
  workspace, R-CON-4), after rolling an ended cycle (R-CYC-1). Many events in one call share
  one state read and one state write (POST /v1/usage/batch groups its events by workspace).
  Each event is idempotent per key (R-CON-5): the same key and body answer the first reply
  again with the replay flag set; the same key with another body is a conflict.
  In the same atomic step it raises the alerts the event crosses (R-ALR-1, see raiseAlerts),
  each at most once per cycle, and adds the event to its day's usage totals (R-USE-1).

  The number of keys is given per call: 8 + two per event.
  Input:
    KEYS[1] engine    KEYS[2] lots    KEYS[3] lotbal    KEYS[4] ledger
    KEYS[5] flexm       hash "YYYY-MM" -> flex units used in that calendar month (R-FLX-5)
    KEYS[6] flexclosed  set of months whose flex the invoicer has read: late usage no longer
                        counts toward them
    KEYS[7] alerts      hash alert id -> the alert as JSON (R-ALR-1)
    KEYS[8] alertq      zset alert id -> raised at (ms): alerts not yet queued for the
                        outbound webhooks (R-ALR-2); only written when ARGV[4] is '1'
    KEYS[7 + 2i]        the idempotency record of event i
    KEYS[8 + 2i]        the usage totals of event i's day: hash "<feature>|<kind>" -> units
    ARGV[1] now (ms)    ARGV[2] month "YYYY-MM" of now    ARGV[3] idempotency TTL (s)
    ARGV[4] '1' when outbound alert webhooks are configured, else '0'
    ARGV[5 + 7(i-1) ..] event i: units (> 0), mode (consume | record), usage id, body hash,
                        feature id or '', occurredAt (ms) or '', month of occurredAt or ''

  Late usage (occurredAt in an earlier month): its flex counts toward the month it occurred in
  unless that month is closed, else toward the current month (the next open one, if the
  current month is closed: only data from before take-final-flex-3.lua has that, when a final
  invoice closed its month instead of taking its stretch, R-CYC-3); the balances it debits are
  today's (the cycle's included, prepaid and flex cap).

  Reply: one string per event, in order: these fields joined by tabs (one bulk string per
  event decodes several times faster in the client than a list of fields)
    status, replayed, usageId, included, prepaid, flex, shortfall, reason, available,
    incl, pre, flexCyc, price, blocked, alerts
      status 'ok' (debited) or 'refused' (consume only; nothing debited); reason: why not
      fully covered ('' when covered); available: units spendable now (refusals only, else
      ''); then the balances after the event: included, prepaid,
      flex used this cycle, flex price, block reason; then the alerts this event raised as
      "<id>=<name>", joined by commas ('' for none).
    'conflict' for an event whose key was used with a different body.
  Errors (as the whole reply): {'not_found'} no such workspace.
]]
--- @include "core"

local K = {
  engine = KEYS[1], lots = KEYS[2], lotbal = KEYS[3], ledger = KEYS[4], flexm = KEYS[5],
  flexclosed = KEYS[6], alerts = KEYS[7], alertq = KEYS[8],
}
local now = tonumber(ARGV[1])
local month = ARGV[2]
local ttl = ARGV[3]
local outbound = ARGV[4] == '1'

local s = loadState(K.engine)
if not s then return {'not_found'} end
roll(K, s, now)

-- The month an event's flex is billed in (R-FLX-5): the month it occurred in while that month
-- is still open for this workspace, else the current one. A month is closed once the monthly
-- run has read it (a final invoice takes its stretch without closing, R-CYC-3): flex after that
-- in the same month goes to the next open month, so nothing is left unbilled.
local function isClosed(m)
  return redis.call('SISMEMBER', K.flexclosed, m) == 1
end

local function nextMonthOf(m)
  local y, mo = tonumber(string.sub(m, 1, 4)), tonumber(string.sub(m, 6, 7))
  if mo == 12 then return string.format('%04d-01', y + 1) end
  return string.format('%04d-%02d', y, mo + 1)
end

local currentOpen = nil
local function flexMonthOf(occMonth)
  if occMonth ~= '' and occMonth ~= month and not isClosed(occMonth) then return occMonth end
  if not currentOpen then
    currentOpen = month
    while isClosed(currentOpen) do currentOpen = nextMonthOf(currentOpen) end
  end
  return currentOpen
end

-- Usage totals of this call, per day key and "<feature>|<kind>": written once at the end, so
-- a batch of one workspace's events adds to each total once.
local tallies = {}
local function tally(dayKey, feature, kind, n)
  local day = tallies[dayKey]
  if not day then
    day = {}
    tallies[dayKey] = day
  end
  local field = feature .. '|' .. kind
  day[field] = (day[field] or 0) + n
end

local function debitOne(units, mode, usageId, feature, occAt, occMonth, dayKey)
  local inc, pre, flex, short, reason = split(s, units)
  if mode == 'consume' and short > 0 then
    -- A refusal means flex has a limit (or a block): what is spendable is finite.
    local avail = 0
    if s.blocked == '' then avail = s.incl + s.pre + flexRoom(s) end
    return {'refused', '0', usageId, '0', '0', '0', fmt(short), reason, fmt(avail)}
  end
  local extra = nil
  if feature ~= '' then extra = {'feature', feature} end
  if occAt ~= '' then
    extra = extra or {}
    extra[#extra + 1], extra[#extra + 2] = 'occurredAt', occAt
  end
  if inc > 0 then
    set(s, 'incl', s.incl - inc)
    ledger(K.ledger, now, 'consume', 'included', -inc, s.incl, usageId, extra)
    tally(dayKey, feature, 'included', inc)
  end
  if pre > 0 then
    takePrepaid(K, s, pre, now, 'consume', usageId, extra)
    tally(dayKey, feature, 'prepaid', pre)
  end
  if flex > 0 then
    local fm = flexMonthOf(occMonth)
    set(s, 'flexCyc', s.flexCyc + flex)
    redis.call('HINCRBY', K.flexm, fm, fmt(flex))
    local fields = {'month', fm, 'cyc', fmt(s.cseq)}
    if extra then for i = 1, #extra do fields[#fields + 1] = extra[i] end end
    ledger(K.ledger, now, 'consume', 'flex', -flex, s.flexCyc, usageId, fields)
    tally(dayKey, feature, 'flex', flex)
  end
  if short > 0 then
    if s.blocked == '' then set(s, 'blocked', reason) end
    ledger(K.ledger, now, 'shortfall', 'none', -short, 0, usageId, extra)
    tally(dayKey, feature, 'shortfall', short)
  end
  return {'ok', '0', usageId, fmt(inc), fmt(pre), fmt(flex), fmt(short), reason, ''}
end

local replies = {}
local perEvent = 7
for i = 1, (#KEYS - 8) / 2 do
  local a = 4 + (i - 1) * perEvent
  local idem = KEYS[7 + 2 * i]
  local reply = replayIdempotent(idem, ARGV[a + 4])
  if not reply then
    local fields = debitOne(tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], ARGV[a + 5], ARGV[a + 6],
      ARGV[a + 7], KEYS[8 + 2 * i])
    fields[10], fields[11], fields[12], fields[13], fields[14] =
      fmt(s.incl), fmt(s.pre), fmt(s.flexCyc), fmt(s.price), s.blocked
    fields[15] = raiseAlerts(K, s, now, fields[7] ~= '0', outbound)
    reply = table.concat(fields, '\t')
    rememberIdempotent(idem, ARGV[a + 4], reply, ttl)
  end
  replies[i] = reply
end
for dayKey, fields in pairs(tallies) do
  for field, units in pairs(fields) do redis.call('HINCRBY', dayKey, field, fmt(units)) end
end
saveState(K.engine, s)
return replies
