-- wrk script: like chat.lua but paced at a fixed total request rate (wrk2-style schedule).
-- Usage: wrk -t T -c C -d D -s fixed_rate.lua URL -- RATE
-- Each thread owns RATE/T of the schedule: every time a connection is ready to send it takes the
-- next slot of its thread's schedule and waits until that slot (delay() has 1 ms granularity,
-- the schedule itself is kept in microseconds, so the average rate is exact). C must be large
-- enough that a connection is always free when a slot comes; otherwise sends fall behind
-- schedule, which is counted ("late") and reported so a saturated run can be recognised.
-- Latency is measured by wrk from the actual send, as in chat.lua.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
  or '{"model":"mock-gpt","messages":[{"role":"user","content":"Hello, how are you?"}]}'

local threads = {}      -- main state: filled by setup()
local interval_us, next_us
late, slots = 0, 0       -- per-thread globals, read back in done() with thread:get()

setup = function(thread)
  table.insert(threads, thread)
end

-- args[0] is the URL; args[1] = total rate (req/s), args[2] = wrk thread count (-t).
init = function(args)
  local rate = tonumber(args[1]) or 2000
  local nthreads = tonumber(args[2]) or 2
  interval_us = 1e6 / (rate / nthreads)
end

delay = function()
  local now = now_us()
  if next_us == nil then next_us = now end
  local slot = next_us
  next_us = next_us + interval_us
  slots = slots + 1
  if now - slot > 1000 then late = late + 1 end -- more than 1 ms behind schedule
  local d = slot - now
  if d < 500 then return 0 end
  return math.floor((d + 500) / 1000)
end

done = function(summary, latency, requests)
  local tot_late, tot_slots = 0, 0
  for _, t in ipairs(threads) do
    tot_late = tot_late + (t:get("late") or 0)
    tot_slots = tot_slots + (t:get("slots") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d late=%d slots=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status, tot_late, tot_slots))
end
