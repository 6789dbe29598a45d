--[[
  Shared by every workspace script (inlined where a script says `--- @include "core"`).
  The TypeScript mirror of all of this is src/domain/burndown.ts and src/domain/cycle.ts.

  Amounts are integers: credit units (1 credit = 10 000) and cents. Lua numbers are doubles,
  exact below 2^53; every product that could pass that is done by long division (unitsForCents).
  A workspace's keys, all under one hash tag {ws:<id>}:
    engine  string plan terms, cycle, balances, flex settings: a MessagePack map of the
                   fields in STATE_FIELDS (one GET and one SET a call instead of a 21-field
                   HMGET and an HSET: half the cost on the debit path; integers stay exact)
    meta    hash   descriptive fields (createdAt, price book, ...) the scripts never read
    lots    zset   prepaid lots with something left, score = purchase order
    lotbal  hash   lot id -> units left
    ledger  stream every movement of credit (R-CON-7)
]]
local DAY_MS = 86400000

local STATE_FIELDS = {'plan', 'iv', 'anchor', 'cidx', 'cstart', 'cend', 'allot', 'incl', 'inclGr', 'pre',
  'flexOk', 'flexOn', 'price', 'capC', 'capDef', 'capCustom', 'thrC', 'flexCyc', 'blocked', 'lotSeq', 'cseq', 'subAt'}

local function fmt(n)
  return string.format('%d', n)
end

-- floor(a / c) for non-negative integers, corrected where the double quotient rounds up.
local function idiv(a, c)
  local q = math.floor(a / c)
  if q * c > a then q = q - 1 elseif (q + 1) * c <= a then q = q + 1 end
  return q
end

-- Flex units a dollar limit allows at a price (R-FLX-2): floor(cents * 10^8 / priceE4).
-- cents * 10^8 can pass 2^53, so it is long division in two steps of 10^4.
local function unitsForCents(cents, price)
  local q1 = idiv(cents, price)
  local r = cents - q1 * price
  local q2 = idiv(r * 10000, price)
  r = r * 10000 - q2 * price
  local q3 = idiv(r * 10000, price)
  return q1 * 100000000 + q2 * 10000 + q3
end

-- Civil-date arithmetic (days since 1970-01-01), after H. Hinnant's algorithms.
local function daysFromCivil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civilFromDays(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

-- The anchor moved on by `months` calendar months, the day clamped to the month's end.
local function addMonths(ms, months)
  local days = math.floor(ms / DAY_MS)
  local tod = ms - days * DAY_MS
  local y, m, d = civilFromDays(days)
  local total = y * 12 + (m - 1) + months
  local ny = math.floor(total / 12)
  local nm = total - ny * 12 + 1
  local last = daysFromCivil(ny + math.floor(nm / 12), nm % 12 + 1, 1) - daysFromCivil(ny, nm, 1)
  if d > last then d = last end
  return daysFromCivil(ny, nm, d) * DAY_MS + tod
end

-- Whether this call changed the state, so that a read that rolled nothing writes nothing.
local stateChanged = false

local function loadState(key)
  local packed = redis.call('GET', key)
  if not packed then return nil end
  local s = cmsgpack.unpack(packed)
  s.subAt = s.subAt or 0
  s.alr = s.alr or 0
  return s
end

local function set(s, field, value)
  s[field] = value
  stateChanged = true
end

local function saveState(key, s)
  if stateChanged then redis.call('SET', key, cmsgpack.pack(s)) end
end

-- One ledger entry (R-CON-7), compact (issue 10 §2): one field 'p' whose value is binary, so
-- every entry has the same single field and the stream's listpack stores no field names:
--   type code, kind code (struct '>BB'; bit 0x80 of the type: the ref is a usage id stored as
--   its 16 raw bytes), at (ms, struct '>i6'), [type string if code 0], [kind string if code 0],
--   [ref: 16 bytes, or a MessagePack string], units and balance (MessagePack integers), then the
--   extra fields as MessagePack pairs: a code (ledgerExtra) or the name, and the value.
-- Decoded by src/redis/ledger-codec.ts; entries written before (field/value pairs) still read.
-- `refBin`: the usage id's 16 raw bytes when `ref` is one (debits), else nil.
--
-- The codes are if-chains, not tables: this file's top level runs again on every call of every
-- script, and building lookup tables there cost each call about a microsecond.
local function ledgerType(typ)
  if typ == 'consume' then return 1 elseif typ == 'grant' then return 2 elseif typ == 'expiry' then return 3
  elseif typ == 'forfeit' then return 4 elseif typ == 'adjustment' then return 5 elseif typ == 'refund' then return 6
  elseif typ == 'shortfall' then return 7 end
  return 0
end

local function ledgerKind(kind)
  if kind == 'included' then return 1 elseif kind == 'prepaid' then return 2 elseif kind == 'flex' then return 3
  elseif kind == 'none' then return 4 end
  return 0
end

-- An extra field's code (nil: written by name), and whether its value is stored as an integer.
local function ledgerExtra(name)
  if name == 'lot' then return 1 elseif name == 'feature' then return 2 elseif name == 'occurredAt' then return 3, true
  elseif name == 'month' then return 4 elseif name == 'cyc' then return 5, true elseif name == 'reason' then return 6 end
  return nil
end

local function ledger(key, at, typ, kind, units, bal, ref, extra, refBin)
  local tc = ledgerType(typ)
  local kc = ledgerKind(kind)
  if refBin then tc = tc + 128 end
  local head = struct.pack('>BBi6', tc, kc, at)
  if tc % 128 == 0 then head = head .. cmsgpack.pack(typ) end
  if kc == 0 then head = head .. cmsgpack.pack(kind) end
  local p = head .. (refBin or cmsgpack.pack(ref)) .. cmsgpack.pack(units, bal)
  if extra then
    local parts = {p}
    for i = 1, #extra, 2 do
      local name, v = extra[i], extra[i + 1]
      local code, int = ledgerExtra(name)
      if int and tonumber(v) then v = tonumber(v) end
      parts[#parts + 1] = cmsgpack.pack(code or name, v)
    end
    p = table.concat(parts)
  end
  redis.call('XADD', key, '*', 'p', p)
end

-- A new cycle: the old included remainder expires, the allotment is granted (R-CYC-1, R-CYC-2).
-- cseq numbers every cycle ever started, plan changes included: flex entries carry it, so the
-- ledger tells cycles apart even when two start in the same millisecond.
local function startCycle(K, s, at, expiryRef, grantRef, expiryType)
  if s.incl > 0 then ledger(K.ledger, at, expiryType or 'expiry', 'included', -s.incl, 0, expiryRef) end
  set(s, 'incl', s.allot)
  set(s, 'inclGr', s.allot)
  if s.allot > 0 then ledger(K.ledger, at, 'grant', 'included', s.allot, s.allot, grantRef) end
  set(s, 'flexCyc', 0)
  set(s, 'blocked', '')
  set(s, 'cseq', s.cseq + 1)
  set(s, 'alr', 0)
end

-- Rolls the cycle when it has ended, even if no job ran (R-CYC-1): jumps to the cycle that
-- holds `now`; cycles nobody touched grant nothing. True when it rolled.
local function roll(K, s, now)
  if now < s.cend then return false end
  local idx = s.cidx
  local nextEnd = s.cend
  while nextEnd <= now do
    idx = idx + 1
    nextEnd = addMonths(s.anchor, (idx + 1) * s.iv)
  end
  local start = addMonths(s.anchor, idx * s.iv)
  startCycle(K, s, start, 'cycle:' .. fmt(s.cstart), 'cycle:' .. fmt(start))
  set(s, 'cidx', idx)
  set(s, 'cstart', start)
  set(s, 'cend', nextEnd)
  return true
end

-- Flex headroom: the lower of cap and threshold (R-FLX-2, R-FLX-4). room -1 = no limit.
local function flexRoom(s)
  if s.flexOk ~= 1 then return 0, 'plan_blocks_flex' end
  if s.flexOn ~= 1 then return 0, 'flex_disabled' end
  local capRoom = -1
  if s.capC >= 0 then capRoom = math.max(0, unitsForCents(s.capC, s.price) - s.flexCyc) end
  if s.thrC >= 0 then
    local thrRoom = math.max(0, unitsForCents(s.thrC, s.price) - s.flexCyc)
    if capRoom < 0 or thrRoom <= capRoom then return thrRoom, 'billing_threshold_reached' end
  end
  return capRoom, 'flex_cap_reached'
end

-- A block (R-CON-4) lasts until a grant, a new cycle, or a change that gives flex room again
-- (a raised cap or threshold, flex switched back on: "blocked until the cap is raised").
local function unblockIfRoom(s)
  if s.blocked == '' then return end
  local room = flexRoom(s)
  if room ~= 0 then set(s, 'blocked', '') end
end

-- How `units` would be covered (R-CON-1): included, prepaid, flex, shortfall, reason.
local function split(s, units)
  if s.blocked ~= '' then return 0, 0, 0, units, 'insufficient_credits' end
  local inc = math.min(s.incl, units)
  local pre = math.min(s.pre, units - inc)
  local rest = units - inc - pre
  if rest == 0 then return inc, pre, 0, 0, '' end
  local room, reason = flexRoom(s)
  local flex = rest
  if room >= 0 and room < rest then flex = room end
  local short = rest - flex
  if short == 0 then reason = '' end
  return inc, pre, flex, short, reason
end

-- Takes `units` from prepaid lots, oldest first (R-CON-1), one ledger entry per lot.
local function takePrepaid(K, s, units, at, typ, ref, extra, refBin)
  local left = units
  local ids = redis.call('ZRANGE', K.lots, 0, -1)
  for _, id in ipairs(ids) do
    if left == 0 then break end
    local bal = tonumber(redis.call('HGET', K.lotbal, id)) or 0
    local take = math.min(bal, left)
    if take > 0 then
      left = left - take
      set(s, 'pre', s.pre - take)
      redis.call('HSET', K.lotbal, id, fmt(bal - take))
      local fields = {'lot', id}
      if extra then for i = 1, #extra do fields[#fields + 1] = extra[i] end end
      ledger(K.ledger, at, typ, 'prepaid', -take, s.pre, ref, fields, refBin)
    end
    if bal - take == 0 then redis.call('ZREM', K.lots, id) end
  end
end

-- The reply every script gives for a workspace's state (parsed by src/redis/engine-store.ts).
local function stateReply(s)
  local out = {}
  for i, f in ipairs(STATE_FIELDS) do
    local v = s[f]
    out[i] = type(v) == 'number' and fmt(v) or v
  end
  return out
end

-- Idempotency records (R-CON-5): "<body hash>\n<reply>", kept for a TTL. A reply is its fields
-- joined by tabs, the second being the replay flag. Answers the stored reply with the flag set,
-- 'conflict' for another body, nil when the key is new.
local function replayIdempotent(key, bodyHash)
  local seen = redis.call('GET', key)
  if not seen then return nil end
  local nl = string.find(seen, '\n', 1, true)
  if string.sub(seen, 1, nl - 1) ~= bodyHash then return 'conflict' end
  local tab = string.find(seen, '\t', nl + 1, true)
  return string.sub(seen, nl + 1, tab) .. '1' .. string.sub(seen, tab + 2)
end

local function rememberIdempotent(key, bodyHash, reply, ttl)
  redis.call('SET', key, bodyHash .. '\n' .. reply, 'EX', ttl)
end

-- A stored reply back into its list of fields.
local function splitTabs(text)
  local out = {}
  local pos = 1
  while true do
    local tab = string.find(text, '\t', pos, true)
    if not tab then
      out[#out + 1] = string.sub(text, pos)
      return out
    end
    out[#out + 1] = string.sub(text, pos, tab - 1)
    pos = tab + 1
  end
end

-- Alerts (R-ALR-1), each at most once per cycle per workspace: s.alr holds a bit per alert
-- raised this cycle (startCycle clears it). The id is stable (workspace, cycle, name): the API
-- computes the current cycle's ids to find its banners, and webhook receivers dedupe by it.
-- Bits: included_80 1, included_exhausted 2, flex_started 4, flex_cap_80 8,
-- flex_cap_reached 16, credits_exhausted 32 (the order they are raised in, as ALERT_NAMES).
local ALL_ALERTS = 63

local function alertId(engineKey, cseq, name)
  return 'alr_' .. string.sub(redis.sha1hex(engineKey .. '\n' .. fmt(cseq) .. '\n' .. name), 1, 24)
end

-- Stores one alert with the figures behind it (JSON of strings: exact integers) and, when
-- outbound webhooks are configured, puts it in the outbox. Appends "<id>=<name>" to `ids`.
local function raiseAlert(K, s, now, outbound, ids, name, flag, limit)
  set(s, 'alr', bit.bor(s.alr, flag))
  local id = alertId(K.engine, s.cseq, name)
  redis.call('HSETNX', K.alerts, id, cjson.encode({
    id = id, name = name, at = fmt(now), cycleSeq = fmt(s.cseq), cycleStart = fmt(s.cstart),
    cycleEnd = fmt(s.cend), plan = s.plan, includedGranted = fmt(s.inclGr), included = fmt(s.incl),
    prepaid = fmt(s.pre), flexUnits = fmt(s.flexCyc), priceE4 = fmt(s.price), capCents = fmt(s.capC),
    thresholdCents = fmt(s.thrC), flexAllowed = fmt(s.flexOk), flexEnabled = fmt(s.flexOn), limit = limit,
  }))
  if outbound then redis.call('ZADD', K.alertq, now, id) end
  ids[#ids + 1] = id .. '=' .. name
end

-- Raises the alerts the state after a debit has crossed and this cycle has not raised yet.
-- `short`: the event was refused or left a shortfall. Mirrored by crossedAlerts in
-- src/domain/alerts.ts. Returns the new alerts as "<id>=<name>" joined by commas. Alerts
-- already raised cost one comparison each, so the common debit pays little.
local function raiseAlerts(K, s, now, short, outbound)
  local done = s.alr
  if done == ALL_ALERTS then return '' end
  local ids = {}
  local gr, incl = s.inclGr, s.incl
  if gr > 0 then
    if bit.band(done, 1) == 0 and (gr - incl) * 5 >= gr * 4 then
      raiseAlert(K, s, now, outbound, ids, 'included_80', 1, '')
    end
    if bit.band(done, 2) == 0 and incl == 0 then
      raiseAlert(K, s, now, outbound, ids, 'included_exhausted', 2, '')
    end
  end
  if bit.band(done, 4) == 0 and s.flexCyc > 0 then
    raiseAlert(K, s, now, outbound, ids, 'flex_started', 4, '')
  end
  if s.flexOk == 1 and s.flexOn == 1 then
    if bit.band(done, 8) == 0 and s.flexCyc > 0 then
      -- 80% of the limit that binds: the lower of cap and threshold (R-FLX-4; a tie is the
      -- threshold's, as in flexRoom).
      local lim, kind = -1, 'cap'
      if s.capC >= 0 then lim = unitsForCents(s.capC, s.price) end
      if s.thrC >= 0 then
        local t = unitsForCents(s.thrC, s.price)
        if lim < 0 or t <= lim then lim, kind = t, 'threshold' end
      end
      if lim >= 0 and s.flexCyc * 5 >= lim * 4 then
        raiseAlert(K, s, now, outbound, ids, 'flex_cap_80', 8, kind)
      end
    end
    if bit.band(done, 16) == 0 and incl + s.pre == 0 and (s.flexCyc > 0 or short) then
      local room, why = flexRoom(s)
      if room == 0 then
        local limit = why == 'billing_threshold_reached' and 'threshold' or 'cap'
        raiseAlert(K, s, now, outbound, ids, 'flex_cap_reached', 16, limit)
      end
    end
  elseif bit.band(done, 32) == 0 and incl + s.pre == 0 then
    raiseAlert(K, s, now, outbound, ids, 'credits_exhausted', 32, '')
  end
  return table.concat(ids, ',')
end

-- Usage idempotency records sized for scale (R-CON-5, issue 10 §2). A record keeps only what
-- the replay needs: per workspace and UTC day, a linear-hashing table of small hashes
-- `<prefix><day>:<bucket>` (each well under hash-max-listpack-entries, so Redis keeps it as a
-- listpack: no per-field allocations), which expire whole at the end of the day plus the window.
--   field  the first 10 bytes of sha256(workspace, day, key) (the usage id is its first 16
--          bytes in hex, which debit.lua is given: a replay rebuilds it, nothing stores it)
--   value  the first 6 characters of the body hash, then a MessagePack sequence: code (status,
--          reason, block), included, prepaid, flex, shortfall, available (-1: none), balances
--          after (included, prepaid, flex this cycle, flex price), the alerts raised as a bit
--          mask (the order of raiseAlerts) and, with alerts, the cycle number their ids carry.
-- Bucket 0 also holds 'n', the day's bucket count. A bucket splits, moving half its records to
-- a new one, once the day averages more than IDEM_LOAD records a bucket.
--
-- A debit pays for this with as few redis.call()s as it can, each a measurable share of the
-- hot path (about a microsecond with its Lua glue): the workspace's state, which every debit
-- reads and writes anyway, keeps its tables' bucket and record counts (idemKnown, idemCommit),
-- so a lookup is one HGET per day that has a table and a store one HSET. A table's deadline is
-- fixed by its day, so a bucket gets its PEXPIRE once, when it is created. Bucket 0's 'n' is
-- still written (at creation and on splits) for usage-seen-1.lua, which has no state to read.
local IDEM_LOAD = 48

-- A refusal or block reason's code (0: none); idemReply's REASONS in reverse. An if-chain, as
-- ledgerType, so that no call builds a table it does not use.
local function reasonCode(r)
  if r == '' then return 0 elseif r == 'insufficient_credits' then return 1 elseif r == 'flex_disabled' then return 2
  elseif r == 'flex_cap_reached' then return 3 elseif r == 'billing_threshold_reached' then return 4
  elseif r == 'plan_blocks_flex' then return 5 end
  return 0
end

local function idemHash(field)
  local a, b, c = string.byte(field, 1, 3)
  return a * 65536 + b * 256 + c
end

local function idemBucket(h, n)
  local p = 1
  while p * 2 <= n do p = p * 2 end
  local b = h % (2 * p)
  if b >= n then b = h % p end
  return b
end

-- A digest's 32 hex characters (as debit.lua gets them: ioredis writes a command with a binary
-- argument at a much higher cost) as its 16 bytes: four 32-bit numbers, exact in a double,
-- packed big-endian. A record's field is the first 10.
local function binOf(hex)
  return struct.pack('>I4I4I4I4', tonumber(string.sub(hex, 1, 8), 16), tonumber(string.sub(hex, 9, 16), 16),
    tonumber(string.sub(hex, 17, 24), 16), tonumber(string.sub(hex, 25, 32), 16))
end

local function fieldOf(hex)
  return struct.pack('>I4I4I2', tonumber(string.sub(hex, 1, 8), 16), tonumber(string.sub(hex, 9, 16), 16),
    tonumber(string.sub(hex, 17, 20), 16))
end

-- The days a record may be in: {day, key prefix, num, n, c}. num: the day as days since
-- 1970-01-01 (given `todayNum`, the day at `todayAt`, by default the last). n (buckets) and c
-- (records) stay nil until known: from the state (idemKnown) or read from bucket 0 (idemN).
local function idemDays(prefix, days, todayNum, todayAt)
  local out = {}
  local at = todayAt or #days
  for i, d in ipairs(days) do
    out[i] = {day = d, prefix = prefix .. d .. ':', num = todayNum and todayNum - (at - i)}
  end
  return out
end

local function idemN(d)
  if d.n == nil then
    local v = redis.call('HMGET', d.prefix .. '0', 'n', 'c')
    d.n, d.c = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  end
  return d.n
end

-- What a workspace's state knows of its tables, kept by idemCommit (debit.lua): two of them,
--   ikd  the newest table's day (days since 1970-01-01), ikn its buckets, ikc its records,
--        ikx its deadline (ms)
--   ipd, ipn, ipc, ipx  the same of the table before it (the previous day that had records)
--   iks  from this day on the state has seen every table written (0 for a workspace created
--        since, upsert-workspace-3.lua); absent in a state written before it kept them. Days
--        before it are read from bucket 0 (idemN), as are tables written then.
-- A day from iks on that is neither had no records (a later one would be ikd, one between the
-- two moves iks past it, idemCommit): nothing to read.
local function idemKnown(s, days)
  local since = s.iks
  if not since then return end
  for _, d in ipairs(days) do
    if d.num == s.ikd then
      d.n, d.c = s.ikn, s.ikc
    elseif d.num == s.ipd then
      d.n, d.c = s.ipn, s.ipc
    elseif d.num >= since and d.num > (s.ipd or -1) then
      d.n, d.c = 0, 0
    end
  end
end

-- Finds a record: the stored value and the digest (hex) of its day, or nil.
local function idemFind(days, digests)
  for i = #days, 1, -1 do
    local d = days[i]
    local n = idemN(d)
    if n > 0 then
      local field = fieldOf(digests[i])
      local v = redis.call('HGET', d.prefix .. idemBucket(idemHash(field), n), field)
      if v then return v, digests[i] end
    end
  end
  return nil
end

-- A stored value as the debit's reply (replayed), or 'conflict' for another body.
local function idemReply(engineKey, value, digest, bodyHash)
  if string.sub(value, 1, 6) ~= string.sub(bodyHash, 1, 6) then return 'conflict' end
  local REASONS = {'insufficient_credits', 'flex_disabled', 'flex_cap_reached', 'billing_threshold_reached',
    'plan_blocks_flex'}
  -- The alerts' bits, in the order of raiseAlerts.
  local ALERT_BITS = {{1, 'included_80'}, {2, 'included_exhausted'}, {4, 'flex_started'}, {8, 'flex_cap_80'},
    {16, 'flex_cap_reached'}, {32, 'credits_exhausted'}}
  local v = {cmsgpack.unpack(string.sub(value, 7))}
  local code = v[1]
  local status = code % 2 == 1 and 'refused' or 'ok'
  local reason = REASONS[math.floor(code / 2) % 8] or ''
  local blocked = REASONS[math.floor(code / 16)] or ''
  local avail = v[6] < 0 and '' or fmt(v[6])
  local alerts = {}
  if v[11] > 0 then
    for _, ab in ipairs(ALERT_BITS) do
      if bit.band(v[11], ab[1]) ~= 0 then
        alerts[#alerts + 1] = alertId(engineKey, v[12], ab[2]) .. '=' .. ab[2]
      end
    end
  end
  return table.concat({status, '1', 'use_' .. digest, fmt(v[2]), fmt(v[3]),
    fmt(v[4]), fmt(v[5]), reason, avail, fmt(v[7]), fmt(v[8]), fmt(v[9]), fmt(v[10]), blocked,
    table.concat(alerts, ',')}, '\t')
end

-- The value of a first answer (fields as debit.lua builds them; numbers as numbers).
local function idemValue(bodyHash, status, reason, blocked, n, alertMask, cseq)
  local code = (status == 'refused' and 1 or 0) + 2 * reasonCode(reason) + 16 * reasonCode(blocked)
  local head = string.sub(bodyHash, 1, 6)
  if alertMask > 0 then
    return head .. cmsgpack.pack(code, n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], alertMask, cseq)
  end
  return head .. cmsgpack.pack(code, n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], 0)
end

-- Stores a record (its field: 10 bytes) in today's table (the last of the days). The day's
-- first record creates bucket 0, with 'n' and the day's deadline, `ttlMs` from now.
local function idemStore(d, field, value, ttlMs)
  if idemN(d) == 0 then
    d.n, d.c = 1, 0
    local b0 = d.prefix .. '0'
    redis.call('HSET', b0, field, value, 'n', '1')
    redis.call('PEXPIRE', b0, ttlMs)
  else
    redis.call('HSET', d.prefix .. idemBucket(idemHash(field), d.n), field, value)
  end
  d.added = (d.added or 0) + 1
end

-- After a call's records: counts them (in the state, see idemKnown) and splits buckets while
-- the day is over its load. `now + ttlMs` is the day's deadline; a later one than the table
-- has (the window was lengthened) moves every bucket's.
local function idemCommit(s, d, now, ttlMs)
  if not d.added then return end
  local deadline = now + ttlMs
  -- The state's fields of this table: the newest's, the one before's, or none.
  local fn, fc, fx
  if s.ikd == nil or d.num > s.ikd then
    if s.ikd then
      set(s, 'ipd', s.ikd)
      set(s, 'ipn', s.ikn)
      set(s, 'ipc', s.ikc)
      set(s, 'ipx', s.ikx)
    end
    set(s, 'iks', s.iks or d.num)
    set(s, 'ikd', d.num)
    set(s, 'ikx', deadline)
    fn, fc, fx = 'ikn', 'ikc', 'ikx'
  elseif d.num == s.ikd then
    fn, fc, fx = 'ikn', 'ikc', 'ikx'
  elseif d.num == s.ipd then
    fn, fc, fx = 'ipn', 'ipc', 'ipx'
  elseif s.iks <= d.num then
    -- An older day than both (a caller whose clock is behind another's, across midnight): its
    -- counts stay in its bucket 0, as before the state kept them, and the state stops vouching
    -- for it and the days before.
    set(s, 'iks', d.num + 1)
  end
  if fx and deadline > (s[fx] or 0) then
    for b = 0, d.n - 1 do redis.call('PEXPIRE', d.prefix .. b, ttlMs) end
    set(s, fx, deadline)
  end
  local c = d.c + d.added
  local n = d.n
  while c > IDEM_LOAD * n do
    local p = 1
    while p * 2 <= n do p = p * 2 end
    local from = d.prefix .. (n - p)
    local to = d.prefix .. n
    local flat = redis.call('HGETALL', from)
    local moveSet, moveDel = {}, {}
    for i = 1, #flat, 2 do
      local f = flat[i]
      if #f == 10 and idemHash(f) % (2 * p) == n then
        moveSet[#moveSet + 1] = f
        moveSet[#moveSet + 1] = flat[i + 1]
        moveDel[#moveDel + 1] = f
      end
    end
    -- The new bucket is created now even when nothing moves (an empty field, never a record's),
    -- so that it has its deadline before any record is stored in it.
    if #moveSet == 0 then moveSet = {'', ''} end
    redis.call('HSET', to, unpack(moveSet))
    redis.call('PEXPIRE', to, ttlMs)
    if #moveDel > 0 then redis.call('HDEL', from, unpack(moveDel)) end
    n = n + 1
  end
  d.c = c
  if fn then
    if n ~= d.n then redis.call('HSET', d.prefix .. '0', 'n', n) end
    set(s, fn, n)
    set(s, fc, c)
  else
    redis.call('HSET', d.prefix .. '0', 'n', n, 'c', c)
  end
  d.n = n
end
