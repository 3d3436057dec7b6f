"""Lua run inside Redis by the Redis bus, so each step that reads then writes is atomic.

Stream entry ids are ``<offset>-0`` (offsets count up per topic in the topic's meta hash), and an
entry's fields are ``i`` id, ``k`` key (empty for none), ``p`` payload JSON, ``h`` headers JSON,
``t`` publish time in microseconds (kept non-decreasing per topic, so time lookups can bisect).
A group's visibility deadlines (ms scores) live in two sorted sets beside the stream's pending
list: batch leases for first deliveries, and per-entry deadlines for everything else.
"""

from __future__ import annotations

from ssmas.core.bus.base import (
    HEADER_ATTEMPTS,
    HEADER_ERROR,
    HEADER_GROUP,
    HEADER_ID,
    HEADER_OFFSET,
    HEADER_TOPIC,
    MAX_BATCH,
)

_PRELUDE = """
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function stamp(meta)
  local t = now_us()
  local last = tonumber(redis.call('HGET', meta, 't') or '0')
  if t < last then t = last end
  redis.call('HSET', meta, 't', string.format('%d', t))
  return t
end
local function append(stream, meta, t, id, key, payload, headers)
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  redis.call('XADD', stream, string.format('%d-0', seq), 'i', id, 'k', key, 'p', payload,
    'h', headers, 't', string.format('%d', t))
end
local function fields(flat)
  local f = {}
  for j = 1, #flat, 2 do f[flat[j]] = flat[j + 1] end
  return f
end
"""

# KEYS: stream, vis, err, dlq stream, dlq meta. Moves entry `id` of `group` to the DLQ.
_DEAD_LETTER = """
local function forget(id)
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
end
local function dead_letter(topic, id, attempts, err)
  local e = redis.call('XRANGE', KEYS[1], id, id)
  if #e > 0 then
    local f = fields(e[1][2])
    local h = cjson.decode(f['h'])
    h['@TOPIC@'] = topic
    h['@GROUP@'] = ARGV[1]
    h['@ID@'] = f['i']
    h['@OFFSET@'] = string.match(id, '^%d+')
    h['@ATTEMPTS@'] = string.format('%d', attempts)
    if err and err ~= '' then h['@ERROR@'] = err end
    append(KEYS[4], KEYS[5], stamp(KEYS[5]), f['i'] .. '/' .. ARGV[1], '', f['p'], cjson.encode(h))
  end
  forget(id)
end
"""

# KEYS: stream, meta. ARGV: idempotency key prefix, ttl s, then (id, key, payload, headers)*.
PUBLISH = (
    _PRELUDE
    + """
local t = string.format('%d', stamp(KEYS[2]))
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
local out = {}
for i = 3, #ARGV, 4 do
  local id, key = ARGV[i], ARGV[i + 1]
  local known = false
  if key ~= '' then
    known = redis.call('GET', ARGV[1] .. key)
    if not known then redis.call('SET', ARGV[1] .. key, id, 'EX', ARGV[2]) end
  end
  if known then
    out[#out + 1] = known
  else
    seq = seq + 1
    redis.call('XADD', KEYS[1], string.format('%d-0', seq), 'i', id, 'k', key, 'p', ARGV[i + 2],
      'h', ARGV[i + 3], 't', t)
    out[#out + 1] = id
  end
end
redis.call('HSET', KEYS[2], 'seq', seq)
return out
"""
)

# KEYS: stream, vis, err, dlq stream, dlq meta, leases, reservation.
# ARGV: group, consumer, count, hold ms, max deliveries, topic.
# Returns {due, first, last}: due = {id, attempt, fields}* redelivered entries; first..last = the
# contiguous range of new entries handed out (read by the client with XRANGE), '' when none.
# New entries get one lease per batch ("first last consumer" scored by its deadline) instead of
# one score each; when a lease expires, its entries still pending for that consumer on their first
# delivery (and not nacked since) join the per-entry deadlines and are redelivered from there.
CONSUME = (
    _PRELUDE
    + _DEAD_LETTER
    + """
local group, consumer, topic = ARGV[1], ARGV[2], ARGV[6]
local reserved = redis.call('GET', KEYS[7])
if reserved and reserved ~= consumer then return {{}, '', ''} end
local count, hold, max_deliveries = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now_ms = math.floor(now_us() / 1000)
local leases = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now_ms, 'WITHSCORES', 'LIMIT', 0, 8)
for j = 1, #leases, 2 do
  redis.call('ZREM', KEYS[6], leases[j])
  local first, last, owner = string.match(leases[j], '^(%S+) (%S+) (.+)$')
  local held = redis.call('XPENDING', KEYS[1], group, first, last, @MAX_BATCH@, owner)
  for _, p in ipairs(held) do
    if tonumber(p[4]) == 1 and not redis.call('ZSCORE', KEYS[2], p[1]) then
      redis.call('ZADD', KEYS[2], leases[j + 1], p[1])
    end
  end
end
local due_out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms, 'LIMIT', 0, count)
for _, id in ipairs(due) do
  local p = redis.call('XPENDING', KEYS[1], group, id, id, 1)
  if #p == 0 then
    forget(id)
  else
    local n = tonumber(p[1][4])
    if n >= max_deliveries then
      dead_letter(topic, id, n, redis.call('HGET', KEYS[3], id))
    else
      local c = redis.call('XCLAIM', KEYS[1], group, consumer, 0, id)
      if #c > 0 and c[1] then
        redis.call('ZADD', KEYS[2], now_ms + hold, id)
        due_out[#due_out + 1] = {id, n + 1, c[1][2]}
      else
        forget(id)
      end
    end
  end
end
local first, last = '', ''
local left = count - #due_out
if left > 0 then
  local read = {'XREADGROUP', 'GROUP', group, consumer, 'COUNT', left, 'STREAMS', KEYS[1], '>'}
  local r = redis.pcall(unpack(read))
  if type(r) == 'table' and r.err then
    redis.call('XGROUP', 'CREATE', KEYS[1], group, '0', 'MKSTREAM')
    r = redis.call(unpack(read))
  end
  if r and #r[1][2] > 0 then
    local entries = r[1][2]
    first, last = entries[1][1], entries[#entries][1]
    redis.call('ZADD', KEYS[6], now_ms + hold, first .. ' ' .. last .. ' ' .. consumer)
  end
end
return {due_out, first, last}
"""
)

# KEYS: stream, vis, err, dlq stream, dlq meta, leases (unused), reservation.
# ARGV: group, id, attempt, delay ms, max deliveries, error ('' for none), topic, consumer.
# Returns 0 for a stale delivery (or one of a consumer the group is no longer reserved for),
# 1 when it will be redelivered, 2 when dead-lettered.
NACK = (
    _PRELUDE
    + _DEAD_LETTER
    + """
local reserved = redis.call('GET', KEYS[7])
if reserved and reserved ~= ARGV[8] then return 0 end
local id, attempt = ARGV[2], tonumber(ARGV[3])
local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], id, id, 1)
if not ok or #p == 0 or tonumber(p[1][4]) ~= attempt then return 0 end
local err = ARGV[6]
if err ~= '' then
  redis.call('HSET', KEYS[3], id, err)
else
  err = redis.call('HGET', KEYS[3], id)
end
if attempt >= tonumber(ARGV[5]) then
  dead_letter(ARGV[7], id, attempt, err)
  return 2
end
redis.call('ZADD', KEYS[2], math.floor(now_us() / 1000) + tonumber(ARGV[4]), id)
return 1
"""
)

# KEYS: stream, vis, reservation. ARGV: group, consumer.
# Reserves the group's topic for `consumer` (CONSUME hands nothing to anyone else from now on)
# and makes every entry the group holds due at once, scored in offset order (a consumer that
# is gone may have held some, on their first delivery or not). Returns how many entries other
# consumers held.
RESERVE = """
local group, consumer = ARGV[1], ARGV[2]
redis.call('SET', KEYS[3], consumer)
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held, start = {}, '-'
while true do
  local p = redis.pcall('XPENDING', KEYS[1], group, start, '+', 1000)
  if type(p) ~= 'table' or p.err or #p == 0 then break end
  for _, e in ipairs(p) do held[#held + 1] = e end
  start = '(' .. p[#p][1]
end
local others = 0
for i, e in ipairs(held) do
  redis.call('ZADD', KEYS[2], now_ms - #held + i, e[1])
  if e[2] ~= consumer then others = others + 1 end
end
return others
"""

# KEYS: reservation. ARGV: consumer. Ends the reservation if `consumer` holds it.
UNRESERVE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: stream. ARGV: since us, from offset. Returns the offset to read from, or -1 for none.
FIRST_SINCE = """
local function t_of(e)
  for j = 1, #e[2], 2 do
    if e[2][j] == 't' then return tonumber(e[2][j + 1]) end
  end
end
local since, from = tonumber(ARGV[1]), tonumber(ARGV[2])
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 or t_of(last[1]) < since then return -1 end
local hi = tonumber(string.match(last[1][1], '^%d+'))
local lo = math.max(from, 1)
if lo > hi then return -1 end
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  local e = redis.call('XRANGE', KEYS[1], string.format('%d-0', mid), '+', 'COUNT', 1)[1]
  if t_of(e) >= since then hi = mid else lo = mid + 1 end
end
return lo
"""

# KEYS: stream. ARGV: before us, idempotency key prefix, chunk size.
# Drops up to one chunk of the oldest entries published before the cut; returns how many.
TRIM_CHUNK = (
    _PRELUDE
    + """
local before = tonumber(ARGV[1])
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[3]))
local n, last = 0, nil
for _, e in ipairs(entries) do
  local f = fields(e[2])
  if tonumber(f['t']) >= before then break end
  if f['k'] ~= '' and redis.call('GET', ARGV[2] .. f['k']) == f['i'] then
    redis.call('DEL', ARGV[2] .. f['k'])
  end
  n = n + 1
  last = tonumber(string.match(e[1], '^%d+'))
end
if n > 0 then redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-0', last + 1)) end
return n
"""
)


def _with_headers(script: str) -> str:
    for marker, header in (
        ("@TOPIC@", HEADER_TOPIC),
        ("@GROUP@", HEADER_GROUP),
        ("@ID@", HEADER_ID),
        ("@OFFSET@", HEADER_OFFSET),
        ("@ATTEMPTS@", HEADER_ATTEMPTS),
        ("@ERROR@", HEADER_ERROR),
    ):
        script = script.replace(marker, header)
    return script


CONSUME = _with_headers(CONSUME).replace("@MAX_BATCH@", str(MAX_BATCH))
NACK = _with_headers(NACK)
