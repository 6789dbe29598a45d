--[[
  Moves a workspace's archive watermark forward only (R-CON-7, src/db/ledger-archive.ts): two
  archivers finishing in any order leave it at the later of their ids, never back.

  Input:
    KEYS[1] the watermark: the stream id "<ms>-<seq>" of the last ledger entry copied
    ARGV[1] the id this archiver copied up to
  Reply: the watermark after (the later id)
  Errors: none
]]
local function later(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  -- Compared as digit strings (ids pass 2^53): the longer, else the greater, is later.
  if #am ~= #bm then return #am > #bm end
  if am ~= bm then return am > bm end
  if #as ~= #bs then return #as > #bs end
  return as > bs
end

local current = redis.call('GET', KEYS[1])
if current and not later(ARGV[1], current) then return current end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
