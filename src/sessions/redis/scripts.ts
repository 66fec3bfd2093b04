// The Lua scripts of the Redis session store, one per store operation that must be a single
// atomic round trip. They are sent with EVALSHA (ioredis falls back to EVAL once per
// connection when Redis does not know a script yet, e.g. after a restart).
//
// Conventions:
// - Every key a script touches arrives in KEYS (s = session hash, h = history list,
//   t = summary hash, then rate-window counters); only the pub/sub channel, which is not a
//   key, is an argument.
// - Every script touches the keys of ONE hash slot, so it runs on Redis Cluster too: a
//   session's keys and its session-scoped counters share the hash tag {<session id>}; a
//   user's counters share {u.<digest of the principal>} and are counted by COUNT_SCRIPT /
//   UNCOUNT_SCRIPT, apart from the session's script, when the store runs on a cluster
//   (redis-store.ts says how the two are kept all-or-none). The set of a principal's
//   sessions (sessions.max_sessions_per_principal) has that same tag and is touched by
//   CLAIM_SCRIPT alone, always apart from the session's scripts (on one node too).
// - Scripts are deterministic: the time ("now", epoch ms of the calling gateway) is an
//   argument; nothing reads the server clock or random numbers.
// - Every key written gets a TTL in the same script, so no key can outlive its use.

/** Helpers prepended to the scripts that refresh a session's lifetime. */
const LIFETIME = `
-- The ms a session has left: its idle timeout, cut short by expiresAt ('' = none).
local function ttl_of(now, idle, expires_at)
  local ttl = idle
  if expires_at and expires_at ~= '' then
    local left = tonumber(expires_at) - now
    if left < ttl then ttl = left end
  end
  return math.ceil(ttl)
end

-- The session was used now: its keys live ttl ms more, and lastUsedAt (for listings) says
-- when.
local function keep(s, h, t, now, ttl)
  redis.call('HSET', s, 'lastUsedAt', now)
  redis.call('PEXPIRE', s, ttl)
  redis.call('PEXPIRE', h, ttl)
  redis.call('PEXPIRE', t, ttl)
end
`;

/**
 * Helpers for n rate-window counters KEYS[first_key .. first_key + n - 1], whose limit and
 * TTL (ms) are the ARGV pairs starting at first_arg.
 */
const COUNTERS = `
-- The 1-based index of the first counter whose window is full, or 0.
local function full_window(first_key, n, first_arg)
  for i = 1, n do
    local count = tonumber(redis.call('GET', KEYS[first_key + i - 1])) or 0
    if count >= tonumber(ARGV[first_arg + 2 * (i - 1)]) then return i end
  end
  return 0
end

-- Counts one call in every counter, once per counter (two rules may share one).
local function count_call(first_key, n, first_arg)
  local counted = {}
  for i = 1, n do
    local key = KEYS[first_key + i - 1]
    if not counted[key] then
      counted[key] = true
      redis.call('INCR', key)
      redis.call('PEXPIRE', key, ARGV[first_arg + 2 * (i - 1) + 1])
    end
  end
end
`;

/**
 * create: KEYS s, h, t; ARGV now, idleMs, expiresAt ('' = none), then the hash's
 * field/value pairs. Replaces any session with that id. Returns 1, or 0 when expiresAt has
 * already passed (nothing is stored then).
 */
export const CREATE_SCRIPT = `${LIFETIME}
local now = tonumber(ARGV[1])
local ttl = ttl_of(now, tonumber(ARGV[2]), ARGV[3])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
if ttl <= 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
keep(KEYS[1], KEYS[2], KEYS[3], now, ttl)
return 1
`;

/**
 * load: KEYS s, h, t, then one rate-window counter per rule; ARGV now, historyLimit.
 * Returns nil when the session is gone, else { HGETALL of s, the last historyLimit history
 * entries (oldest first), HGETALL of t, the counters' values (0 when absent) in KEYS
 * order }. A load is a use: it restarts the idle timeout (with the idleMs stored in the
 * hash).
 */
export const LOAD_SCRIPT = `${LIFETIME}
local now = tonumber(ARGV[1])
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
local f = {}
for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
local ttl = ttl_of(now, tonumber(f['idleMs']) or 0, f['expiresAt'])
if ttl <= 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return false
end
keep(KEYS[1], KEYS[2], KEYS[3], now, ttl)
local limit = tonumber(ARGV[2])
local history = {}
if limit > 0 then history = redis.call('LRANGE', KEYS[2], -limit, -1) end
local summary = redis.call('HGETALL', KEYS[3])
local rates = {}
for i = 4, #KEYS do rates[#rates + 1] = tonumber(redis.call('GET', KEYS[i])) or 0 end
return { fields, history, summary, rates }
`;

/**
 * record: KEYS s, h, t, then one rate-window counter per rule counted here (none for a
 * denied call); ARGV now, idleMs, historyLimit, entry (JSON), allowed ('1' or '0'), summary
 * field (action .. '\n' .. target), at_ns, summaryLimit, the behaviour update (minute, or ''
 * for none; novel n-grams; novel tools), then per rule its limit and the counter's TTL in
 * ms. The behaviour update counts the call in field `bm<minute mod 10>` ("minute count",
 * restarted when it holds an older minute) and adds to `bn` and `bt`.
 * Returns {'gone'}, {'rate_limited', i} (i: 1-based rule whose window is full; nothing was
 * counted or appended) or {'recorded'} (every counter incremented once, the entry appended
 * and trimmed, its target's summary "allowed denied last_ns" updated -- or, for a new
 * target once t holds summaryLimit fields, 'untracked' bumped instead --, calls/denied
 * bumped, the idle timeout restarted).
 */
export const RECORD_SCRIPT = `${LIFETIME}${COUNTERS}
local now = tonumber(ARGV[1])
local expires_at = redis.call('HGET', KEYS[1], 'expiresAt')
if not expires_at then return { 'gone' } end
local ttl = ttl_of(now, tonumber(ARGV[2]), expires_at)
if ttl <= 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return { 'gone' }
end
local rules = #KEYS - 3
local full = full_window(4, rules, 12)
if full > 0 then
  keep(KEYS[1], KEYS[2], KEYS[3], now, ttl)
  return { 'rate_limited', full }
end
-- The target's summary is read (and checked) before anything is written: a malformed
-- one fails the script with nothing changed.
local current = redis.call('HGET', KEYS[3], ARGV[6])
local summarized = current or redis.call('HLEN', KEYS[3]) < tonumber(ARGV[8])
local allowed, denied = 0, 0
if current then
  local a, d = string.match(current, '^(%d+) (%d+) %d+$')
  if not a then return redis.error_reply('malformed summary field ' .. ARGV[6]) end
  allowed, denied = tonumber(a), tonumber(d)
end
count_call(4, rules, 12)
if ARGV[9] ~= '' then
  local minute = tonumber(ARGV[9])
  local field = 'bm' .. (minute % 10)
  local held = redis.call('HGET', KEYS[1], field)
  local count = 0
  if held then
    local m, c = string.match(held, '^(%d+) (%d+)$')
    if m and tonumber(m) == minute then count = tonumber(c) end
  end
  redis.call('HSET', KEYS[1], field, minute .. ' ' .. (count + 1))
  if ARGV[10] ~= '0' then redis.call('HINCRBY', KEYS[1], 'bn', ARGV[10]) end
  if ARGV[11] ~= '0' then redis.call('HINCRBY', KEYS[1], 'bt', ARGV[11]) end
end
if summarized then
  if ARGV[5] == '1' then allowed = allowed + 1 else denied = denied + 1 end
  redis.call('HSET', KEYS[3], ARGV[6], allowed .. ' ' .. denied .. ' ' .. ARGV[7])
else
  redis.call('HINCRBY', KEYS[1], 'untracked', 1)
end
local limit = tonumber(ARGV[3])
if limit > 0 then
  redis.call('RPUSH', KEYS[2], ARGV[4])
  redis.call('LTRIM', KEYS[2], -limit, -1)
else
  redis.call('DEL', KEYS[2])
end
redis.call('HINCRBY', KEYS[1], 'calls', 1)
if ARGV[5] ~= '1' then redis.call('HINCRBY', KEYS[1], 'denied', 1) end
redis.call('HSET', KEYS[1], 'idleMs', ARGV[2])
keep(KEYS[1], KEYS[2], KEYS[3], now, ttl)
return { 'recorded' }
`;

/**
 * count (a user's counters on a cluster, before the session's record): KEYS one counter per
 * rule, all of one user; ARGV per rule its limit and the counter's TTL in ms. Returns the
 * 1-based rule whose window is full (nothing counted), or 0 (each counter counted once).
 */
export const COUNT_SCRIPT = `${COUNTERS}
local full = full_window(1, #KEYS, 1)
if full > 0 then return full end
count_call(1, #KEYS, 1)
return 0
`;

/**
 * uncount: KEYS the counters COUNT_SCRIPT counted, for a call the session's record then
 * refused. Takes the call back from each counter once; a counter whose window has ended
 * meanwhile (gone, or already 0) is left alone, so nothing is created without a TTL.
 */
export const UNCOUNT_SCRIPT = `
local seen = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  if not seen[key] then
    seen[key] = true
    if (tonumber(redis.call('GET', key)) or 0) > 0 then redis.call('DECR', key) end
  end
end
return 0
`;

/**
 * terminate: KEYS s, h, t, e; ARGV channel, message, end note (JSON). Deletes the session
 * and, if it existed, keeps the end note in e for the session's idle timeout and publishes
 * the message on the channel (plain PUBLISH: on a cluster it reaches every node,
 * so one subscription on any node hears every termination). Returns its principal if it
 * existed, else 0: the caller then frees its place in the principal's set, a key of the
 * principal's hash slot, which this script may not touch on a cluster.
 */
export const TERMINATE_SCRIPT = `
local principal = redis.call('HGET', KEYS[1], 'principal')
local idle = tonumber(redis.call('HGET', KEYS[1], 'idleMs'))
local existed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2], KEYS[3])
if existed == 1 and idle and idle > 0 then redis.call('SET', KEYS[4], ARGV[3], 'PX', idle) end
if existed == 1 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
if existed == 1 and principal then return principal end
return existed
`;

/**
 * claim (a place among the sessions one principal has open): KEYS o (a sorted set of
 * session ids scored by when each was claimed, hash-tagged by the principal, apart from
 * every session's own keys); ARGV now, id, limit, ttlMs, graceMs, then ids of sessions the
 * caller found gone. Drops those, then adds id if fewer than limit remain and returns
 * {'claimed'}; otherwise returns {'full', how many, ...the members claimed more than
 * graceMs ago}, for the caller to check which of those still exist (a younger one may be
 * a session still being created). The set lives ttlMs from now (longer than the idle
 * timeout: no member's session can outlive that without a use, and every use, a load,
 * extends the set as long).
 */
export const CLAIM_SCRIPT = `
local now = tonumber(ARGV[1])
for i = 6, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
local open = redis.call('ZCARD', KEYS[1])
if open >= tonumber(ARGV[3]) then
  local settled = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[5]))
  table.insert(settled, 1, tostring(open))
  table.insert(settled, 1, 'full')
  return settled
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return { 'claimed' }
`;

/**
 * findings (the session's DLP context): KEYS s; ARGV the most labels (and finding types) a
 * session keeps, how many labels follow, the labels, the most sketches a session keeps, how
 * many sketches follow, per sketch its label and its bytes in hex, then finding type / count
 * pairs. Adds each label as a field `label:<label>` of the session hash and each count to
 * its field `findings:<type>`; `dlpLabels` and `dlpTypes` count those fields, so a session
 * never holds more than the most. A sketch is ored into field `sk:<label>` (16 bits at a
 * time), or stored there while the session has fewer sketches than the most (`dlpSketches`
 * counts them). Only fields of the existing hash are written (it keeps its TTL). Returns 0
 * when the session is gone, else 1.
 */
export const FINDINGS_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local most = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local labels = tonumber(redis.call('HGET', KEYS[1], 'dlpLabels') or '0')
for i = 1, n do
  local field = 'label:' .. ARGV[2 + i]
  if redis.call('HEXISTS', KEYS[1], field) == 0 and labels < most then
    redis.call('HSET', KEYS[1], field, '1')
    labels = labels + 1
  end
end
local at = 3 + n
local most_sketches = tonumber(ARGV[at])
local sketches_given = tonumber(ARGV[at + 1])
local sketches = tonumber(redis.call('HGET', KEYS[1], 'dlpSketches') or '0')
at = at + 2
for i = 1, sketches_given do
  local field = 'sk:' .. ARGV[at]
  local added = ARGV[at + 1]
  local held = redis.call('HGET', KEYS[1], field)
  if held and #held == #added then
    local parts = {}
    for j = 1, #added, 4 do
      local a = tonumber(string.sub(held, j, j + 3), 16)
      local b = tonumber(string.sub(added, j, j + 3), 16)
      parts[#parts + 1] = bit.tohex(bit.bor(a, b), 4)
    end
    redis.call('HSET', KEYS[1], field, table.concat(parts))
  elseif not held and sketches < most_sketches then
    redis.call('HSET', KEYS[1], field, added)
    sketches = sketches + 1
  end
  at = at + 2
end
local types = tonumber(redis.call('HGET', KEYS[1], 'dlpTypes') or '0')
for i = at, #ARGV, 2 do
  local field = 'findings:' .. ARGV[i]
  if redis.call('HEXISTS', KEYS[1], field) == 1 then
    redis.call('HINCRBY', KEYS[1], field, ARGV[i + 1])
  elseif types < most then
    redis.call('HSET', KEYS[1], field, ARGV[i + 1])
    types = types + 1
  end
end
redis.call('HSET', KEYS[1], 'dlpLabels', labels, 'dlpTypes', types, 'dlpSketches', sketches)
return 1
`;
