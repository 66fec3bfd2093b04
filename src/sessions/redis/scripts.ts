// The Lua scripts of the Redis session store, one per store operation that must be a single
// atomic round trip. They are sent with EVALSHA (ioredis falls back to EVAL once per
// connection when Redis does not know a script yet, e.g. after a restart).
//
// Conventions:
// - Every key a script touches arrives in KEYS (s = session hash, h = history list,
//   t = summary hash, idx = index sorted set, then rate-window counters); only the pub/sub channel, which is
//   not a key, is an argument. The keys are not hash-tagged: a single Redis node (or a
//   primary with replicas) is assumed, not Redis Cluster.
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
-- when; the index scores each id by when it expires and itself lives as long as its
-- longest-lived session.
local function keep(s, h, t, idx, id, now, ttl)
  redis.call('HSET', s, 'lastUsedAt', now)
  redis.call('PEXPIRE', s, ttl)
  redis.call('PEXPIRE', h, ttl)
  redis.call('PEXPIRE', t, ttl)
  redis.call('ZADD', idx, now + ttl, id)
  if redis.call('PTTL', idx) < ttl then redis.call('PEXPIRE', idx, ttl) end
end

local function drop(s, h, t, idx, id)
  redis.call('DEL', s, h, t)
  redis.call('ZREM', idx, id)
end
`;

/**
 * create: KEYS s, h, t, idx; ARGV now, idleMs, expiresAt ('' = none), id, then the hash's
 * field/value pairs. Replaces any session with that id. Returns 1, or 0 when expiresAt has
 * already passed (nothing is stored then). Also drops the ids of expired sessions from the
 * index, so it stays as small as the live sessions even if list() is never called (each id
 * is dropped once: amortised O(log N) per session).
 */
export const CREATE_SCRIPT = `${LIFETIME}
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local ttl = ttl_of(now, tonumber(ARGV[2]), ARGV[3])
drop(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[4])
if ttl <= 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
keep(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[4], now, ttl)
return 1
`;

/**
 * load: KEYS s, h, t, idx, then one rate-window counter per rule; ARGV now, id,
 * historyLimit. Returns nil when the session is gone, else { HGETALL of s, the last
 * historyLimit history entries (oldest first), HGETALL of t, the counters' values (0 when
 * absent) in KEYS order }. A load is a use: it restarts the idle timeout (with the idleMs
 * stored in the hash).
 */
export const LOAD_SCRIPT = `${LIFETIME}
local now = tonumber(ARGV[1])
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
local f = {}
for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
local ttl = ttl_of(now, tonumber(f['idleMs']) or 0, f['expiresAt'])
if ttl <= 0 then
  drop(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2])
  return false
end
keep(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2], now, ttl)
local limit = tonumber(ARGV[3])
local history = {}
if limit > 0 then history = redis.call('LRANGE', KEYS[2], -limit, -1) end
local summary = redis.call('HGETALL', KEYS[3])
local rates = {}
for i = 5, #KEYS do rates[#rates + 1] = tonumber(redis.call('GET', KEYS[i])) or 0 end
return { fields, history, summary, rates }
`;

/**
 * record: KEYS s, h, t, idx, then one rate-window counter per rule (none for a denied
 * call); ARGV now, id, idleMs, historyLimit, entry (JSON), allowed ('1' or '0'), summary
 * field (action .. '\n' .. target), at_ns, summaryLimit, then per rule its limit and the
 * counter's TTL in ms.
 * Returns {'gone'}, {'rate_limited', i} (i: 1-based rule whose window is full; nothing was
 * counted or appended) or {'recorded'} (every counter incremented once, the entry appended
 * and trimmed, its target's summary "allowed denied last_ns" updated -- or, for a new
 * target once t holds summaryLimit fields, 'untracked' bumped instead --, calls/denied
 * bumped, the idle timeout restarted).
 */
export const RECORD_SCRIPT = `${LIFETIME}
local now = tonumber(ARGV[1])
local expires_at = redis.call('HGET', KEYS[1], 'expiresAt')
if not expires_at then return { 'gone' } end
local ttl = ttl_of(now, tonumber(ARGV[3]), expires_at)
if ttl <= 0 then
  drop(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2])
  return { 'gone' }
end
local rules = #KEYS - 4
for i = 1, rules do
  local count = tonumber(redis.call('GET', KEYS[4 + i])) or 0
  if count >= tonumber(ARGV[8 + 2 * i]) then
    keep(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2], now, ttl)
    return { 'rate_limited', i }
  end
end
-- The target's summary is read (and checked) before anything is written: a malformed
-- one fails the script with nothing changed.
local current = redis.call('HGET', KEYS[3], ARGV[7])
local summarized = current or redis.call('HLEN', KEYS[3]) < tonumber(ARGV[9])
local allowed, denied = 0, 0
if current then
  local a, d = string.match(current, '^(%d+) (%d+) %d+$')
  if not a then return redis.error_reply('malformed summary field ' .. ARGV[7]) end
  allowed, denied = tonumber(a), tonumber(d)
end
local counted = {}
for i = 1, rules do
  local key = KEYS[4 + i]
  if not counted[key] then
    counted[key] = true
    redis.call('INCR', key)
    redis.call('PEXPIRE', key, ARGV[9 + 2 * i])
  end
end
if summarized then
  if ARGV[6] == '1' then allowed = allowed + 1 else denied = denied + 1 end
  redis.call('HSET', KEYS[3], ARGV[7], allowed .. ' ' .. denied .. ' ' .. ARGV[8])
else
  redis.call('HINCRBY', KEYS[1], 'untracked', 1)
end
local limit = tonumber(ARGV[4])
if limit > 0 then
  redis.call('RPUSH', KEYS[2], ARGV[5])
  redis.call('LTRIM', KEYS[2], -limit, -1)
else
  redis.call('DEL', KEYS[2])
end
redis.call('HINCRBY', KEYS[1], 'calls', 1)
if ARGV[6] ~= '1' then redis.call('HINCRBY', KEYS[1], 'denied', 1) end
redis.call('HSET', KEYS[1], 'idleMs', ARGV[3])
keep(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2], now, ttl)
return { 'recorded' }
`;

/**
 * terminate: KEYS s, h, t, idx; ARGV id, channel, message. Deletes the session and, if it
 * existed, publishes the message on the channel. Returns its principal (for its place in
 * the principal's set) if it existed, else 0.
 */
export const TERMINATE_SCRIPT = `
local principal = redis.call('HGET', KEYS[1], 'principal')
local existed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
if existed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
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
 * session keeps, how many labels follow, the labels, then finding type / count pairs. Adds
 * each label as a field `label:<label>` of the session hash and each count to its field
 * `findings:<type>`; `dlpLabels` and `dlpTypes` count those fields, so a session never holds
 * more than the most. Only fields of the existing hash are written (it keeps its TTL).
 * Returns 0 when the session is gone, else 1.
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
local types = tonumber(redis.call('HGET', KEYS[1], 'dlpTypes') or '0')
for i = 3 + n, #ARGV, 2 do
  local field = 'findings:' .. ARGV[i]
  if redis.call('HEXISTS', KEYS[1], field) == 1 then
    redis.call('HINCRBY', KEYS[1], field, ARGV[i + 1])
  elseif types < most then
    redis.call('HSET', KEYS[1], field, ARGV[i + 1])
    types = types + 1
  end
end
redis.call('HSET', KEYS[1], 'dlpLabels', labels, 'dlpTypes', types)
return 1
`;
