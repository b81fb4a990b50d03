//! The Lua scripts. Each runs atomically on the server, against the server's clock (`TIME`,
//! in microseconds), so replicas with skewed clocks still share one timeline. Numbers are Lua
//! doubles: exact for integers below 2^53, enough for microsecond timestamps and costs.

use std::sync::LazyLock;

use redis::Script;

/// GCRA over every bucket of a request, all or none.
///
/// KEYS: the buckets. ARGV, per bucket: interval (µs per unit), burst, cost. A bucket named
/// twice sees its own earlier take. Returns `{1, remaining₁, used₁ (µs), …}` when every
/// bucket admits, else `{0, index (0-based), wait (µs), never}`, having taken nothing.
pub static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local seen, new = {}, {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local interval = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = seen[k] or tonumber(redis.call('GET', k) or '0')
  local nt = math.max(tat, now) + interval * cost
  local cap = interval * burst
  if nt - now > cap then
    if cost > burst then
      return {0, i - 1, math.ceil(cap), 1}
    end
    return {0, i - 1, math.ceil(nt - now - cap), 0}
  end
  seen[k] = nt
  new[i] = nt
end
local out = {1}
for i = 1, #KEYS do
  local k = KEYS[i]
  local interval = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  redis.call('SET', k, string.format('%.0f', seen[k]), 'PX', math.ceil((seen[k] - now) / 1000) + 1000)
  local used = new[i] - now
  out[#out + 1] = math.floor((interval * burst - used) / interval)
  out[#out + 1] = math.ceil(used)
end
return out
"#,
    )
});

/// Enters every gate or none. KEYS: the gates (sorted sets of lease id → expiry, ms).
/// ARGV: lease id, lease (ms), then each gate's maximum. Expired leases (a crashed holder's)
/// are dropped first. Returns 1 when entered, 0 when a gate is full.
pub static ENTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[2 + i]) then
    return 0
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], lease * 2)
end
return 1
"#,
    )
});

/// Checks every scope's budgets and, when none is spent, adds the reservation to each: all
/// or none. KEYS, per scope: its day counter, its month counter (hashes with fields `t`,
/// tokens, and `c`, cost in micro-units). ARGV: tokens, cost, day TTL (s), month TTL (s), then
/// per scope its budgets (tokens per day, tokens per month, cost per day, cost per month in
/// micro-units; -1 for none). Returns `{1, day t, day c, month t, month c, …}` (totals after
/// the reservation) or `{0, index (0-based), which (1..4)}`.
pub static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local tokens, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local dttl, mttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local n = #KEYS / 2
local function get(k, f) return tonumber(redis.call('HGET', k, f) or '0') end
for i = 1, n do
  local d, m = KEYS[2 * i - 1], KEYS[2 * i]
  local b = 4 + (i - 1) * 4
  local spent = {get(d, 't'), get(m, 't'), get(d, 'c'), get(m, 'c')}
  for j = 1, 4 do
    local budget = tonumber(ARGV[b + j])
    if budget >= 0 and spent[j] >= budget then
      return {0, i - 1, j}
    end
  end
end
local out = {1}
for i = 1, n do
  local d, m = KEYS[2 * i - 1], KEYS[2 * i]
  for _, k in ipairs({d, m}) do
    local vt = redis.call('HINCRBY', k, 't', tokens)
    local vc = redis.call('HINCRBY', k, 'c', cost)
    if vt < 0 then redis.call('HSET', k, 't', 0); vt = 0 end
    if vc < 0 then redis.call('HSET', k, 'c', 0); vc = 0 end
    redis.call('EXPIRE', k, k == d and dttl or mttl)
  end
  out[#out + 1] = get(d, 't'); out[#out + 1] = get(d, 'c')
  out[#out + 1] = get(m, 't'); out[#out + 1] = get(m, 'c')
end
return out
"#,
    )
});

/// Queued operations, applied in order. ARGV[1]: how many; then per operation its kind, its
/// key count and argument count, then its arguments; its keys are the next ones in KEYS.
/// - `adjust` (1 key: a bucket; interval µs, units): charges (+) or gives back (−) units,
///   never below a full bucket;
/// - `leave` (1 key: a gate; lease id): releases a lease;
/// - `renew` (1 key: a gate; lease id, lease ms): extends a lease still held;
/// - `settle` (2 keys per scope: day and month counters; tokens, cost, day TTL, month TTL):
///   adds or gives back spending, never below zero.
pub static APPLY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ki, ai = 1, 2
for _ = 1, tonumber(ARGV[1]) do
  local kind, nk, na = ARGV[ai], tonumber(ARGV[ai + 1]), tonumber(ARGV[ai + 2])
  ai = ai + 3
  if kind == 'adjust' then
    local k = KEYS[ki]
    local interval, units = tonumber(ARGV[ai]), tonumber(ARGV[ai + 1])
    local tat = tonumber(redis.call('GET', k) or '0')
    if units >= 0 then
      tat = math.max(tat, now) + interval * units
    else
      tat = math.max(tat + interval * units, now)
    end
    redis.call('SET', k, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  elseif kind == 'leave' then
    redis.call('ZREM', KEYS[ki], ARGV[ai])
  elseif kind == 'renew' then
    local lease = tonumber(ARGV[ai + 1])
    redis.call('ZADD', KEYS[ki], 'XX', math.floor(now / 1000) + lease, ARGV[ai])
    redis.call('PEXPIRE', KEYS[ki], lease * 2)
  elseif kind == 'settle' then
    local tokens, cost = tonumber(ARGV[ai]), tonumber(ARGV[ai + 1])
    local dttl, mttl = tonumber(ARGV[ai + 2]), tonumber(ARGV[ai + 3])
    for j = 0, nk - 1 do
      local k = KEYS[ki + j]
      local vt = redis.call('HINCRBY', k, 't', tokens)
      local vc = redis.call('HINCRBY', k, 'c', cost)
      if vt < 0 then redis.call('HSET', k, 't', 0) end
      if vc < 0 then redis.call('HSET', k, 'c', 0) end
      redis.call('EXPIRE', k, j % 2 == 0 and dttl or mttl)
    end
  end
  ki = ki + nk
  ai = ai + na
end
return 1
"#,
    )
});

/// Seeds budget counters from the durable usage, once per loss of Redis's data: the marker
/// KEYS[1] is set only if absent, and the counters are added only then. KEYS[2..]: counters;
/// ARGV: per counter, tokens, cost, TTL (s). Returns 1 when it seeded, 0 when already seeded.
pub static SEED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if not redis.call('SET', KEYS[1], '1', 'NX') then
  return 0
end
for i = 2, #KEYS do
  local b = (i - 2) * 3
  redis.call('HINCRBY', KEYS[i], 't', ARGV[b + 1])
  redis.call('HINCRBY', KEYS[i], 'c', ARGV[b + 2])
  redis.call('EXPIRE', KEYS[i], ARGV[b + 3])
end
return 1
"#,
    )
});
