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
/// The script reads each key it touches once and writes it once, at the end: a call's
/// decisions and operations mostly share a few keys (one tenant's buckets, gates and
/// counters), so a batch of N requests costs Redis about as many commands as one.
///
/// ARGV[1] is one flat MessagePack array of numbers and strings (one Lua table to decode,
/// not one per item): `replica, n, item₁…itemₙ, m, decision₁…decisionₘ`, where each item is
/// `kind, key count, key index…, argument count, argument…`. A key index points into KEYS,
/// where each distinct key is named once (so Redis Cluster sees every key). `replica` names
/// the calling process, whose concurrency slots the gates count. Kinds are numbers: 1
/// `take`, 2 `enter`, 3 `reserve`, 4 `adjust`, 5 `leave`, 6 `renew`, 7 `settle`.
///
/// Operations:
/// - `adjust` (1 key: a bucket; interval µs, units): charges (+) or gives back (−) units,
///   never below a full bucket;
/// - `leave` (1 key: a gate; slots, lease ms): releases this replica's slots;
/// - `renew` (1 key: a gate; lease ms, slots held): extends this replica's lease on its
///   slots, and counts at least the slots it says it holds (restoring what Redis dropped);
/// - `settle` (2 keys per scope: day and month counters; tokens, cost, day TTL, month TTL):
///   adds or gives back spending, never below zero.
///
/// The reply is one flat MessagePack array too: per decision, in order, its length and its
/// numbers (`1, -1` for an unknown kind). Each decision is all or nothing on its own, and
/// sees the decisions before it in the call:
/// - `take`: GCRA over every bucket, all or none. Per bucket: interval (µs per unit), burst,
///   cost; a bucket named twice sees its own earlier take. Returns `1, remaining₁, used₁
///   (µs), …` when every bucket admits, else `0, index (0-based), wait (µs), never`, having
///   taken nothing.
/// - `enter`: a slot in every gate or in none. A gate is a hash holding, per replica, its
///   slots and the end of its lease on them (ms); a replica whose lease ended (a crash) is
///   dropped first. Arguments: lease (ms), each gate's maximum. Returns 1 when entered, 0
///   when a gate is full.
/// - `reserve`: every scope's budgets checked and, when none is spent, the reservation added
///   to each, all or none. Keys per scope: its day counter and its month counter (hashes with
///   fields `t`, tokens, and `c`, cost in micro-units). Arguments: tokens, cost, day TTL (s),
///   month TTL (s), then per scope its budgets (tokens per day, tokens per month, cost per day,
///   cost per month in micro-units; -1 for none). Returns `1, day t, day c, month t,
///   month c, …` (totals after the reservation) or `0, index (0-based), which (1..4)`.
pub static CALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local max, floor, ceil = math.max, math.floor, math.ceil
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = floor(now / 1000)
local b = cmsgpack.unpack(ARGV[1])
local me = b[1]
local function int(x) return string.format('%.0f', x) end

-- Buckets: theoretical arrival times (µs), read on first use, written back at the end.
local tats, tat_dirty = {}, {}
local function tat(k)
  local v = tats[k]
  if v == nil then
    v = tonumber(redis.call('GET', k) or '0')
    tats[k] = v
  end
  return v
end

-- Gates: a hash with, per replica, the slots it holds (`n:<replica>`) and when its lease
-- on them ends (`x:<replica>`, ms). On first use the replicas whose lease ended (a crash)
-- are dropped and the live slots summed; this replica's count and lease are written back
-- at the end.
local live, own, gate_ttl = {}, {}, {}
local function gate(k)
  local n = live[k]
  if n == nil then
    local f = redis.call('HGETALL', k)
    local counts, ends = {}, {}
    for i = 1, #f, 2 do
      local name, v = f[i], tonumber(f[i + 1])
      if string.sub(name, 1, 2) == 'n:' then
        counts[string.sub(name, 3)] = v
      else
        ends[string.sub(name, 3)] = v
      end
    end
    n = 0
    for r, c in pairs(counts) do
      if r ~= me and (ends[r] or 0) < now_ms then
        redis.call('HDEL', k, 'n:' .. r, 'x:' .. r)
      elseif r ~= me then
        n = n + c
      end
    end
    own[k] = counts[me] or 0
    n = n + own[k]
    live[k] = n
  end
  return n
end
local function hold(k, delta, lease, floor_)
  gate(k)
  local before = own[k]
  local after = max(before + delta, floor_ or 0)
  own[k] = after
  live[k] = live[k] + after - before
  gate_ttl[k] = max(gate_ttl[k] or 0, lease or 0)
end

-- Budget counters: {tokens, cost}, read on first use, written back at the end; a counter
-- that did not exist gets its expiry then.
local buds, bud_new, bud_dirty = {}, {}, {}
local function bud(k)
  local v = buds[k]
  if v == nil then
    local r = redis.call('HMGET', k, 't', 'c')
    v = {tonumber(r[1] or '0'), tonumber(r[2] or '0')}
    buds[k] = v
    if not r[1] and not r[2] then bud_new[k] = true end
  end
  return v
end
local function add_bud(k, tokens, cost, ttl)
  local v = bud(k)
  v[1] = max(v[1] + tokens, 0)
  v[2] = max(v[2] + cost, 0)
  bud_dirty[k] = ttl
end

-- Operations. An item at p: kind, key count (nk), keys at kp.., argument count, arguments
-- at ap...
local p = 3
for _ = 1, b[2] do
  local kind, nk = b[p], b[p + 1]
  local kp = p + 2
  local ap = kp + nk + 1
  if kind == 4 then -- adjust
    local k = KEYS[b[kp]]
    local interval, units = b[ap], b[ap + 1]
    local v = tat(k)
    if units >= 0 then
      v = max(v, now) + interval * units
    else
      v = max(v + interval * units, now)
    end
    tats[k] = v
    tat_dirty[k] = true
  elseif kind == 5 then -- leave
    hold(KEYS[b[kp]], -b[ap], b[ap + 1])
  elseif kind == 6 then -- renew
    hold(KEYS[b[kp]], 0, b[ap], b[ap + 1])
  elseif kind == 7 then -- settle
    local tokens, cost, dttl, mttl = b[ap], b[ap + 1], b[ap + 2], b[ap + 3]
    for j = 0, nk - 1 do
      add_bud(KEYS[b[kp + j]], tokens, cost, j % 2 == 0 and dttl or mttl)
    end
  end
  p = ap + b[ap - 1]
end

-- Decisions; each appends its reply (length, then numbers) to `out`.
local out, o = {}, 0
local function reply1(x)
  out[o + 1] = 1; out[o + 2] = x
  o = o + 2
end
local function reply3(x, y, z)
  out[o + 1] = 3; out[o + 2] = x; out[o + 3] = y; out[o + 4] = z
  o = o + 4
end
local function reply4(x, y, z, w)
  out[o + 1] = 4; out[o + 2] = x; out[o + 3] = y; out[o + 4] = z; out[o + 5] = w
  o = o + 5
end

local function take(kp, nk, ap)
  local seen, new = {}, {}
  for i = 0, nk - 1 do
    local k = KEYS[b[kp + i]]
    local a = ap + 3 * i
    local interval, burst, cost = b[a], b[a + 1], b[a + 2]
    local nt = max(seen[k] or tat(k), now) + interval * cost
    local cap = interval * burst
    if nt - now > cap then
      if cost > burst then
        return reply4(0, i, ceil(cap), 1)
      end
      return reply4(0, i, ceil(nt - now - cap), 0)
    end
    seen[k] = nt
    new[i] = nt
  end
  out[o + 1] = 1 + 2 * nk
  out[o + 2] = 1
  o = o + 2
  for i = 0, nk - 1 do
    local k = KEYS[b[kp + i]]
    local a = ap + 3 * i
    local interval, burst = b[a], b[a + 1]
    tats[k] = seen[k]
    tat_dirty[k] = true
    local used = new[i] - now
    out[o + 1] = floor((interval * burst - used) / interval)
    out[o + 2] = ceil(used)
    o = o + 2
  end
end

local function enter(kp, nk, ap)
  for i = 0, nk - 1 do
    if gate(KEYS[b[kp + i]]) >= b[ap + 1 + i] then
      return reply1(0)
    end
  end
  for i = 0, nk - 1 do
    hold(KEYS[b[kp + i]], 1, b[ap])
  end
  reply1(1)
end

local function reserve(kp, nk, ap)
  local tokens, cost, dttl, mttl = b[ap], b[ap + 1], b[ap + 2], b[ap + 3]
  for i = 0, nk / 2 - 1 do
    local d, m = bud(KEYS[b[kp + 2 * i]]), bud(KEYS[b[kp + 2 * i + 1]])
    local a = ap + 4 + 4 * i
    if b[a] >= 0 and d[1] >= b[a] then return reply3(0, i, 1) end
    if b[a + 1] >= 0 and m[1] >= b[a + 1] then return reply3(0, i, 2) end
    if b[a + 2] >= 0 and d[2] >= b[a + 2] then return reply3(0, i, 3) end
    if b[a + 3] >= 0 and m[2] >= b[a + 3] then return reply3(0, i, 4) end
  end
  out[o + 1] = 1 + 2 * nk
  out[o + 2] = 1
  o = o + 2
  for i = 0, nk / 2 - 1 do
    local dk, mk = KEYS[b[kp + 2 * i]], KEYS[b[kp + 2 * i + 1]]
    add_bud(dk, tokens, cost, dttl)
    add_bud(mk, tokens, cost, mttl)
    local d, m = buds[dk], buds[mk]
    out[o + 1] = d[1]; out[o + 2] = d[2]; out[o + 3] = m[1]; out[o + 4] = m[2]
    o = o + 4
  end
end

local n_decisions = b[p]
p = p + 1
for _ = 1, n_decisions do
  local kind, nk = b[p], b[p + 1]
  local kp = p + 2
  local ap = kp + nk + 1
  if kind == 1 then
    take(kp, nk, ap)
  elseif kind == 2 then
    enter(kp, nk, ap)
  elseif kind == 3 then
    reserve(kp, nk, ap)
  else
    reply1(-1)
  end
  p = ap + b[ap - 1]
end

for k in pairs(tat_dirty) do
  local v = tats[k]
  redis.call('SET', k, int(v), 'PX', ceil((v - now) / 1000) + 1000)
end
for k, lease in pairs(gate_ttl) do
  if own[k] > 0 then
    redis.call('HSET', k, 'n:' .. me, int(own[k]), 'x:' .. me, int(now_ms + lease))
  else
    redis.call('HDEL', k, 'n:' .. me, 'x:' .. me)
  end
  redis.call('PEXPIRE', k, lease * 2)
end
for k, ttl in pairs(bud_dirty) do
  local v = buds[k]
  redis.call('HSET', k, 't', int(v[1]), 'c', int(v[2]))
  if bud_new[k] then redis.call('EXPIRE', k, ttl) end
end
return cmsgpack.pack(out)
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
