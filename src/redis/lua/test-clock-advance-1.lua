--[[
  Moves the shared test clock forward (issue 11 §3; development and test only). The clock of
  every process is its system time plus the offset kept here, so one key moves them all.
  Only forward: a target before the clock as this caller reads it changes nothing (-1); a
  target equal to it changes nothing either (0), and the caller answers it as done (a retry of
  an advance whose catch-up failed: src/services/test-clock.ts).
  The caller's system time comes in ARGV (never Redis TIME): the offset is relative to the
  clock the callers read.

  Input:
    KEYS[1] the offset, milliseconds as a decimal string; missing: 0
    ARGV[1] the caller's system time (ms, an integer)
    ARGV[2] the target time (ms, an integer)
  Reply: {1 moved | 0 already there | -1 before the clock, the offset before (ms), the offset
    after (ms)}, integers
  Errors: none
]]
local system = tonumber(ARGV[1])
local target = tonumber(ARGV[2])
local offset = tonumber(redis.call('GET', KEYS[1]) or '0')
if target < system + offset then return {-1, offset, offset} end
if target == system + offset then return {0, offset, offset} end
local after = target - system
-- %d, not tostring: Lua writes a 13-digit number as 1.2345678901234e+12.
redis.call('SET', KEYS[1], string.format('%d', after))
return {1, offset, after}
