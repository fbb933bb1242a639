-- Shared by every bench script: `done` prints one JSON line the bench reads. Scripts that count
-- their own outcomes or time whole logins keep them in per-thread globals `ok`, `failed` and
-- `latencies` (milliseconds), gathered here from every thread.
threads = {}
next_thread_id = 0

function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
  table.insert(threads, thread)
end

local function percentile(sorted, p)
  if #sorted == 0 then return nil end
  local index = math.max(1, math.ceil(#sorted * p / 100))
  return sorted[index]
end

local function json_number(value)
  if value == nil then return "null" end
  return string.format("%.4f", value)
end

function done(summary, latency, requests)
  local ok, failed, custom, exhausted = 0, 0, {}, false
  local counted = false
  for _, thread in ipairs(threads) do
    local thread_ok = thread:get("ok")
    if thread_ok ~= nil then
      counted = true
      ok = ok + thread_ok
      failed = failed + (thread:get("failed") or 0)
    end
    if thread:get("exhausted") then exhausted = true end
    local thread_latencies = thread:get("latencies")
    if thread_latencies ~= nil then
      for _, value in ipairs(thread_latencies) do table.insert(custom, value) end
    end
  end
  table.sort(custom)
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"seconds":%s,"requestsPerSecond":%s,"p50Ms":%s,"p99Ms":%s,' ..
    '"non2xx":%d,"socketErrors":%d,"counted":%s,"ok":%d,"failed":%d,"okPerSecond":%s,' ..
    '"operationP50Ms":%s,"operationP99Ms":%s,"exhausted":%s}\n',
    summary.requests, json_number(seconds), json_number(summary.requests / seconds),
    json_number(latency:percentile(50) / 1000), json_number(latency:percentile(99) / 1000),
    errors.status, socket_errors, tostring(counted), ok, failed, json_number(ok / seconds),
    json_number(percentile(custom, 50)), json_number(percentile(custom, 99)), tostring(exhausted)))
end
