--[[
  Spends credits for one or more usage events of one workspace, in order: consume (all or
  nothing, R-CON-2) or record (as far as allowed, the rest a shortfall that blocks the
  workspace, R-CON-4), after rolling an ended cycle (R-CYC-1). Many events in one call share
  one state read and one state write (POST /v1/usage/batch groups its events by workspace).
  Each event is idempotent per key (R-CON-5): the same key and body answer the first reply
  again with the replay flag set; the same key with another body is a conflict.
  In the same atomic step it raises the alerts the event crosses (R-ALR-1, see raiseAlerts),
  each at most once per cycle, and adds the event to its day's usage totals (R-USE-1).

  The number of keys is given per call: 9 + two per event.
  Input:
    KEYS[1] engine    KEYS[2] lots    KEYS[3] lotbal    KEYS[4] ledger
    KEYS[5] flexm       hash "YYYY-MM" -> flex units used in that calendar month (R-FLX-5)
    KEYS[6] flexclosed  set of months whose flex the invoicer has read: late usage no longer
                        counts toward them
    KEYS[7] alerts      hash alert id -> the alert as JSON (R-ALR-1)
    KEYS[8] alertq      zset alert id -> raised at (ms): alerts not yet queued for the
                        outbound webhooks (R-ALR-2); only written when ARGV[4] is '1'
    KEYS[9] keylog      stream of the first answers of late usage (occurredAt given), each with
                        its key, until the archiver has copied them to PostgreSQL (R-FLX-5)
    KEYS[8 + 2i]        event i's idempotency record as written before issue 10 (a string key;
                        read only, so a retry of a key answered before the upgrade replays)
    KEYS[9 + 2i]        the usage totals of event i's day: hash "<feature>|<kind>" -> units
    ARGV[1] now (ms)    ARGV[2] month "YYYY-MM" of now
    ARGV[3] how long from now today's records must live (ms): to the end of the day, plus the
            idempotency window, plus a margin (core.lua idemStore)
    ARGV[4] '1' when outbound alert webhooks are configured, else '0'
    ARGV[5] the records' key prefix "<prefix>{ws:<id>}:ik:"   ARGV[6] D, the days a record may be
            in (the window's, and tomorrow in the last minutes of today: another process's clock
            may be ahead, engine-store.ts recordDays)   ARGV[7] T, today's place among them
            ARGV[8 .. 7 + D] those days "YYYY-MM-DD", oldest first
    ARGV[8 + D + (7 + D)(i-1) ..] event i: units (> 0), mode (consume | record), body hash,
            feature id or '', occurredAt (ms) or '', month of occurredAt or '', the idempotency
            key (late usage only, else ''), then per day the first 16 bytes of
            sha256(workspace, day, key) in hex (core.lua's idempotency records; today's, the T-th,
            is also the usage id: `use_` and it)

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
  flexclosed = KEYS[6], alerts = KEYS[7], alertq = KEYS[8], keylog = KEYS[9],
}
local now = tonumber(ARGV[1])
local month = ARGV[2]
local ttlMs = tonumber(ARGV[3])
local outbound = ARGV[4] == '1'
local nDays = tonumber(ARGV[6])
local todayAt = tonumber(ARGV[7])
local days = idemDays(ARGV[5], {unpack(ARGV, 8, 7 + nDays)}, math.floor(now / DAY_MS), todayAt)
local today = days[todayAt]

local s = loadState(K.engine)
if not s then return {'not_found'} end
roll(K, s, now)
idemKnown(s, days)

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

-- Returns status, included, prepaid, flex, shortfall, reason, available (-1: none).
local function debitOne(units, mode, usageId, refBin, feature, occAt, occMonth, dayKey)
  local inc, pre, flex, short, reason = split(s, units)
  if mode == 'consume' and short > 0 then
    -- A refusal means flex has a limit (or a block): what is spendable is finite.
    local avail = 0
    if s.blocked == '' then avail = s.incl + s.pre + flexRoom(s) end
    return 'refused', 0, 0, 0, short, reason, avail
  end
  local extra = nil
  if feature ~= '' then extra = {'feature', feature} end
  if occAt ~= '' then
    extra = extra or {}
    extra[#extra + 1], extra[#extra + 2] = 'occurredAt', occAt
  end
  if inc > 0 then
    set(s, 'incl', s.incl - inc)
    ledger(K.ledger, now, 'consume', 'included', -inc, s.incl, usageId, extra, refBin)
    tally(dayKey, feature, 'included', inc)
  end
  if pre > 0 then
    takePrepaid(K, s, pre, now, 'consume', usageId, extra, refBin)
    tally(dayKey, feature, 'prepaid', pre)
  end
  if flex > 0 then
    local fm = flexMonthOf(occMonth)
    set(s, 'flexCyc', s.flexCyc + flex)
    redis.call('HINCRBY', K.flexm, fm, fmt(flex))
    local fields = {'month', fm, 'cyc', fmt(s.cseq)}
    if extra then for i = 1, #extra do fields[#fields + 1] = extra[i] end end
    ledger(K.ledger, now, 'consume', 'flex', -flex, s.flexCyc, usageId, fields, refBin)
    tally(dayKey, feature, 'flex', flex)
  end
  if short > 0 then
    if s.blocked == '' then set(s, 'blocked', reason) end
    ledger(K.ledger, now, 'shortfall', 'none', -short, 0, usageId, extra, refBin)
    tally(dayKey, feature, 'shortfall', short)
  end
  return 'ok', inc, pre, flex, short, reason, -1
end

local replies = {}
local perEvent = 7 + nDays
for i = 1, (#KEYS - 9) / 2 do
  local a = 7 + nDays + (i - 1) * perEvent
  local bodyHash = ARGV[a + 3]
  local digests = {unpack(ARGV, a + 8, a + 7 + nDays)}
  local reply
  local found, digest = idemFind(days, digests)
  if found then
    reply = idemReply(K.engine, found, digest, bodyHash)
  else
    reply = replayIdempotent(KEYS[8 + 2 * i], bodyHash)
  end
  if not reply then
    local todayDigest, occAt = digests[todayAt], ARGV[a + 5]
    local usageId, refBin = 'use_' .. todayDigest, binOf(todayDigest)
    local alrBefore, cseqBefore = s.alr, s.cseq
    local status, inc, pre, flex, short, reason, avail = debitOne(tonumber(ARGV[a + 1]), ARGV[a + 2], usageId,
      refBin, ARGV[a + 4], occAt, ARGV[a + 6], KEYS[9 + 2 * i])
    local alerts = raiseAlerts(K, s, now, short > 0, outbound)
    -- Alerts of this event only: a bit set now that was not before, in this cycle.
    local mask = 0
    if alerts ~= '' then mask = s.cseq == cseqBefore and bit.band(s.alr, bit.bnot(alrBefore)) or s.alr end
    reply = table.concat({status, '0', usageId, fmt(inc), fmt(pre), fmt(flex), fmt(short), reason,
      avail < 0 and '' or fmt(avail), fmt(s.incl), fmt(s.pre), fmt(s.flexCyc), fmt(s.price), s.blocked, alerts}, '\t')
    idemStore(today, string.sub(refBin, 1, 10), idemValue(bodyHash, status, reason, s.blocked,
      {inc, pre, flex, short, avail, s.incl, s.pre, s.flexCyc, s.price}, mask, s.cseq), ttlMs)
    -- Late usage is answerable past the window through PostgreSQL (R-FLX-5, R-CON-5): its first
    -- answer waits here, with its key, until the archiver has copied it.
    if occAt ~= '' then
      redis.call('XADD', K.keylog, '*', 'k', ARGV[a + 7], 'h', bodyHash, 'r', reply, 'at', fmt(now))
    end
  end
  replies[i] = reply
end
idemCommit(s, today, now, ttlMs)
for dayKey, fields in pairs(tallies) do
  for field, units in pairs(fields) do redis.call('HINCRBY', dayKey, field, fmt(units)) end
end
saveState(K.engine, s)
return replies
