--[[
  Takes a workspace's archive watermark back to nothing (R-CON-7, src/db/ledger-archive.ts) when
  PostgreSQL turned out not to hold the entry it names (restored from a backup older than it,
  failed over to a replica behind it): the next copy starts again from the first entry Redis
  still holds, and skips what PostgreSQL has. Only if the watermark is still the one found
  missing: one another archiver moved meanwhile stays.

  Input:
    KEYS[1] the watermark: the stream id "<ms>-<seq>" of the last ledger entry copied
    ARGV[1] the watermark PostgreSQL does not hold
  Reply: 1 when it was taken back, 0 when it had moved
  Errors: none
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
