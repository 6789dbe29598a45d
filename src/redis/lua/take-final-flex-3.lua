--[[
  Takes the flex of an ended subscription's final stretch for its final invoice (R-CYC-3): what
  the month's flex gained since the last final invoice of the month took its share. Taking
  does not close the month: flex used after it (the workspace subscribes again) stays in the
  month, for the next final invoice or the monthly run, which bills the month's flex less what
  final invoices took (R-FLX-5). Once per subscription: a retry answers the same units, so a
  redelivered event or a retried job never takes (or bills) another stretch.

  Input:
    KEYS[1] flexm        hash "YYYY-MM" -> flex units used in that calendar month
    KEYS[2] flexfinal    hash "YYYY-MM" -> units taken by final invoices;
                         "YYYY-MM|<subscription>" -> units of that subscription's stretch
    KEYS[3] flexclosed   set of months the monthly run has read
    ARGV[1] month "YYYY-MM"    ARGV[2] subscription id
  Reply: the stretch's units, as a string ('0' when the monthly run closed the month first: it
         bills what is in it)
  Errors: none
]]
local K = {flexm = KEYS[1], final = KEYS[2], closed = KEYS[3]}
local month, field = ARGV[1], ARGV[1] .. '|' .. ARGV[2]

local taken = redis.call('HGET', K.final, field)
if taken then return taken end
local units = 0
if redis.call('SISMEMBER', K.closed, month) == 0 then
  local total = tonumber(redis.call('HGET', K.flexm, month) or '0')
  units = total - tonumber(redis.call('HGET', K.final, month) or '0')
  redis.call('HSET', K.final, month, string.format('%d', total))
end
taken = string.format('%d', units)
redis.call('HSET', K.final, field, taken)
return taken
