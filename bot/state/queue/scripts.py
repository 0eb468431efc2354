"""Lua scripts of the intake queue (``bot.state.queue``; entry fields: ``bot.state.queue.model``).

Each script runs atomically inside Redis and names every key it touches in KEYS.
Times are passed in by the caller (its injectable clock), never read in Redis.
"""

from __future__ import annotations

# KEYS: stream, [dedupe key]   ARGV: dedupe ttl ms, type, body, dedupe, received, mac
# Returns the new entry id, or nil when the dedupe key was already remembered.
ENQUEUE = """
if #KEYS == 2 and not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  return false
end
return redis.call('XADD', KEYS[1], '*', 'type', ARGV[2], 'body', ARGV[3],
                  'dedupe', ARGV[4], 'received', ARGV[5], 'attempts', '0', 'mac', ARGV[6])
"""

# KEYS: retry zset, retry data hash, stream   ARGV: now ms, limit
# Moves up to `limit` retries due at `now` (the caller's clock) into the stream.
MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local names = {'type', 'body', 'dedupe', 'received', 'attempts', 'mac'}
for _, token in ipairs(due) do
  local fields = {}
  for i, name in ipairs(names) do fields[i] = token .. ':' .. name end
  local v = redis.call('HMGET', KEYS[2], unpack(fields))
  if v[1] then
    redis.call('XADD', KEYS[3], '*', 'type', v[1], 'body', v[2], 'dedupe', v[3] or '',
               'received', v[4] or '', 'attempts', v[5] or '0', 'mac', v[6] or '')
  end
  redis.call('HDEL', KEYS[2], unpack(fields))
  redis.call('ZREM', KEYS[1], token)
end
return #due
"""

# KEYS: stream, retry zset, retry data hash
# ARGV: group, id, due ms, type, body, dedupe, received, attempts, mac
# Returns 0 when the entry is no longer pending (acked or failed elsewhere).
RETRY = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
local t = ARGV[2]
redis.call('HSET', KEYS[3], t .. ':type', ARGV[4], t .. ':body', ARGV[5],
           t .. ':dedupe', ARGV[6], t .. ':received', ARGV[7], t .. ':attempts', ARGV[8],
           t .. ':mac', ARGV[9])
redis.call('ZADD', KEYS[2], ARGV[3], t)
return 1
"""

# KEYS: stream, parked stream
# ARGV: group, id, type, body, dedupe, received, attempts, error, parked at, mac
PARK = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'type', ARGV[3], 'body', ARGV[4], 'dedupe', ARGV[5],
           'received', ARGV[6], 'attempts', ARGV[7], 'error', ARGV[8], 'parked', ARGV[9],
           'origin', ARGV[2], 'mac', ARGV[10])
return 1
"""

# KEYS: parked stream, stream   ARGV: parked id
REQUEUE = """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return 0 end
local raw, f = found[1][2], {}
for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
redis.call('XADD', KEYS[2], '*', 'type', f['type'] or '', 'body', f['body'] or '',
           'dedupe', f['dedupe'] or '', 'received', f['received'] or '', 'attempts', '0',
           'mac', f['mac'] or '')
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
"""

# KEYS: pokes zset   ARGV: now ms, limit
# Removes and returns up to `limit` members due at `now`.
TAKE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
"""

# KEYS: stream   ARGV: group, consumer, entry id...
# The ids `consumer` still holds, each one's idle time reset (XCLAIM JUSTID counts no
# delivery): a live worker's entries are never taken for a dead worker's.
RENEW = """
local held = {}
for i = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  -- XCLAIM of an entry deleted meanwhile answers nothing (and drops it): not held.
  if #pending > 0 and #redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i],
                                  'JUSTID') > 0 then
    held[#held + 1] = ARGV[i]
  end
end
return held
"""
