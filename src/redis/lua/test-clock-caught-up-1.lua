--[[
  The test clock's catch-up mark (issue 11 §3; development and test only): the clock time up to
  which the monthly invoicing runs of the months it passed are queued (every month whose end is
  at or before it). An advance sets it, when missing, to the clock before it moves the clock;
  after queuing the runs up to a time, the catch-up raises it there. It only rises, so two
  catch-ups that finish out of order never lower it (src/services/test-clock.ts).

  Input:
    KEYS[1] the mark, ms as a decimal string
    ARGV[1] 'init' (set it only when missing) or 'raise' (set it only when later)
    ARGV[2] the time (ms, an integer)
  Reply: the mark after, ms (an integer)
  Errors: none
]]
local at = tonumber(ARGV[2])
local mark = redis.call('GET', KEYS[1])
if mark and (ARGV[1] == 'init' or tonumber(mark) >= at) then return tonumber(mark) end
redis.call('SET', KEYS[1], string.format('%d', at))
return at
