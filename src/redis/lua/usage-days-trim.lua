--[[
  Deletes a workspace's day totals that PostgreSQL now answers for and moves its `udfrom` mark
  past them (R-USE-1, src/db/usage-retention.ts), forward only: two archivers' passes finishing
  in any order never move the mark back over days already deleted (which would read as empty).

  The number of keys is given per call: 1 + the days.
  Input:
    KEYS[1]       udfrom: the first day ("YYYY-MM-DD") whose totals Redis may still hold
    KEYS[2 ..]    the day hashes to delete (all before ARGV[1])
    ARGV[1]       the new first day
  Reply: how many day hashes it deleted; 0 when the mark was at or past ARGV[1] already
  Errors: none
]]
local current = redis.call('GET', KEYS[1])
if current and current >= ARGV[1] then return 0 end
if #KEYS > 1 then redis.call('UNLINK', unpack(KEYS, 2)) end
redis.call('SET', KEYS[1], ARGV[1])
return #KEYS - 1
