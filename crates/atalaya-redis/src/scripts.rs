//! The Lua scripts. Each runs atomically on the server, against the server's clock (`TIME`,
//! in microseconds), so replicas with skewed clocks still share one timeline. Numbers are Lua
//! doubles: exact for integers below 2^53, enough for microsecond timestamps and costs.
//!
//! [`CALL`] is one round trip for many decisions: it first applies the operations this process
//! queued (give-backs, releases, lease renewals, settlements), then makes the decisions its
//! concurrent requests asked for, in order.

use std::sync::LazyLock;

use redis::Script;

/// Queued operations, then decisions (of one process's concurrent requests, batched).
///
/// ARGV[1]: how many operations; then per operation its kind, key count, argument count and
/// arguments (its keys are the next ones in KEYS):
/// - `adjust` (1 key: a bucket; interval µs, units): charges (+) or gives back (−) units,
///   never below a full bucket;
/// - `leave` (1 key: a gate; lease id): releases a lease;
/// - `renew` (1 key: a gate; lease id, lease ms): extends a lease still held;
/// - `settle` (2 keys per scope: day and month counters; tokens, cost, day TTL, month TTL):
///   adds or gives back spending, never below zero.
///
/// Then how many decisions, and per decision its kind, key count, argument count and arguments
/// (its keys are the next ones in KEYS); the reply is the array of their replies, in order
/// (-1 for an unknown kind). Each decision is all or nothing on its own:
/// - `take`: GCRA over every bucket, all or none. Per bucket: interval (µs per unit), burst,
///   cost; a bucket named twice sees its own earlier take. Returns `{1, remaining₁, used₁ (µs),
///   …}` when every bucket admits, else `{0, index (0-based), wait (µs), never}`, having taken
///   nothing.
/// - `enter`: every gate (a sorted set of lease id → expiry, ms) or none. Arguments: lease
///   id, lease (ms), each gate's maximum. Expired leases (a crashed holder's) are dropped
///   first. Returns 1 when entered, 0 when a gate is full.
/// - `reserve`: every scope's budgets checked and, when none is spent, the reservation added
///   to each, all or none. Keys per scope: its day counter and its month counter (hashes with
///   fields `t`, tokens, and `c`, cost in micro-units). Arguments: tokens, cost, day TTL (s),
///   month TTL (s), then per scope its budgets (tokens per day, tokens per month, cost per day,
///   cost per month in micro-units; -1 for none). Returns `{1, day t, day c, month t,
///   month c, …}` (totals after the reservation) or `{0, index (0-based), which (1..4)}`.
pub static CALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
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
    redis.call('ZADD', KEYS[ki], 'XX', now_ms + lease, ARGV[ai])
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

local function decide(kind, kb, ab, n)
  local function K(i) return KEYS[kb + i - 1] end
  local function A(i) return ARGV[ab + i - 1] end
  if kind == 'take' then
    local seen, new = {}, {}
    for i = 1, n do
      local k = K(i)
      local interval, burst, cost = tonumber(A(3 * i - 2)), tonumber(A(3 * i - 1)), tonumber(A(3 * i))
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
    for i = 1, n do
      local k = K(i)
      local interval, burst = tonumber(A(3 * i - 2)), tonumber(A(3 * i - 1))
      redis.call('SET', k, string.format('%.0f', seen[k]), 'PX', math.ceil((seen[k] - now) / 1000) + 1000)
      local used = new[i] - now
      out[#out + 1] = math.floor((interval * burst - used) / interval)
      out[#out + 1] = math.ceil(used)
    end
    return out
  elseif kind == 'enter' then
    local lease = tonumber(A(2))
    for i = 1, n do
      redis.call('ZREMRANGEBYSCORE', K(i), '-inf', now_ms)
      if redis.call('ZCARD', K(i)) >= tonumber(A(2 + i)) then
        return 0
      end
    end
    for i = 1, n do
      redis.call('ZADD', K(i), now_ms + lease, A(1))
      redis.call('PEXPIRE', K(i), lease * 2)
    end
    return 1
  elseif kind == 'reserve' then
    local tokens, cost = tonumber(A(1)), tonumber(A(2))
    local dttl, mttl = tonumber(A(3)), tonumber(A(4))
    local scopes = n / 2
    local function get(k, f) return tonumber(redis.call('HGET', k, f) or '0') end
    for i = 1, scopes do
      local d, m = K(2 * i - 1), K(2 * i)
      local spent = {get(d, 't'), get(m, 't'), get(d, 'c'), get(m, 'c')}
      for j = 1, 4 do
        local budget = tonumber(A(4 + (i - 1) * 4 + j))
        if budget >= 0 and spent[j] >= budget then
          return {0, i - 1, j}
        end
      end
    end
    local out = {1}
    for i = 1, scopes do
      local d, m = K(2 * i - 1), K(2 * i)
      for _, k in ipairs({d, m}) do
        local vt = redis.call('HINCRBY', k, 't', tokens)
        local vc = redis.call('HINCRBY', k, 'c', cost)
        if vt < 0 then redis.call('HSET', k, 't', 0) end
        if vc < 0 then redis.call('HSET', k, 'c', 0) end
        redis.call('EXPIRE', k, k == d and dttl or mttl)
      end
      out[#out + 1] = get(d, 't'); out[#out + 1] = get(d, 'c')
      out[#out + 1] = get(m, 't'); out[#out + 1] = get(m, 'c')
    end
    return out
  end
  return -1
end

local results = {}
for d = 1, tonumber(ARGV[ai]) do
  local kind, nk, na = ARGV[ai + 1], tonumber(ARGV[ai + 2]), tonumber(ARGV[ai + 3])
  ai = ai + 4
  results[d] = decide(kind, ki, ai, nk)
  ki = ki + nk
  ai = ai + na - 1
end
return results
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
