--[[
  Whether a usage key has a first answer on record (R-CON-5): one of the window's days' records
  (core.lua idemFind), or a record written before issue 10. Reads only.
  Input:
    KEYS[1] the key's record as written before issue 10 (a string)
    ARGV[1] the records' key prefix "<prefix>{ws:<id>}:ik:"   ARGV[2] D, the days
    ARGV[3 .. 2 + D] the days "YYYY-MM-DD", oldest first   ARGV[3 + D .. 2 + 2D] the key's digest of each
            (hex, as debit.lua's)
  Reply: 1 or 0.
]]
--- @include "core"

local nDays = tonumber(ARGV[2])
local days = idemDays(ARGV[1], {unpack(ARGV, 3, 2 + nDays)})
if idemFind(days, {unpack(ARGV, 3 + nDays, 2 + 2 * nDays)}) then return 1 end
return redis.call('EXISTS', KEYS[1])
