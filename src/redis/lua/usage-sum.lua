--[[
  Sums a workspace's daily usage totals (R-USE-1) inside Redis, so the API reads one short
  reply instead of a hash per day. Read-only.

  The number of keys is given per call: one per day of the range.
  Input:
    KEYS[i]  the usage totals of day i: hash "<feature>|<kind>" -> units
    ARGV[1]  'field': sum each "<feature>|<kind>" over all the days
             'day':   sum each kind per day (features added together)
  Reply: a flat list of strings
    'field': field, units, field, units, ...
    'day':   day index (1-based, as KEYS), kind, units, ...
]]
local mode = ARGV[1]
local out = {}
if mode == 'field' then
  local sums, order = {}, {}
  for i = 1, #KEYS do
    local h = redis.call('HGETALL', KEYS[i])
    for j = 1, #h, 2 do
      local f = h[j]
      local prev = sums[f]
      if prev == nil then order[#order + 1] = f end
      sums[f] = (prev or 0) + tonumber(h[j + 1])
    end
  end
  for _, f in ipairs(order) do
    out[#out + 1] = f
    out[#out + 1] = string.format('%d', sums[f])
  end
elseif mode == 'day' then
  for i = 1, #KEYS do
    local h = redis.call('HGETALL', KEYS[i])
    if #h > 0 then
      local sums, order = {}, {}
      for j = 1, #h, 2 do
        local kind = string.match(h[j], '|([^|]*)$')
        local prev = sums[kind]
        if prev == nil then order[#order + 1] = kind end
        sums[kind] = (prev or 0) + tonumber(h[j + 1])
      end
      for _, kind in ipairs(order) do
        out[#out + 1] = tostring(i)
        out[#out + 1] = kind
        out[#out + 1] = string.format('%d', sums[kind])
      end
    end
  end
else
  return redis.error_reply('usage-sum: mode must be field or day')
end
return out
