-- wrk script for bench/console-flood.sh: console sign-in attempts, as fast as the server takes
-- them.
--
-- Every request is `POST <url path>` with a form `csrf=x&username=...&password=...` and the
-- cookie `sr_console_login=x` (the sign-in form's double-submit check only compares the two).
-- One attempt in four names `admin`, the others unknown usernames; every password is wrong, so
-- each attempt costs the server a full password check and no session is ever made. The
-- requests are formatted once per thread in init().
--
-- done() prints one machine-readable `FLOOD ...` line: requests, socket errors, latencies in
-- microseconds, and `statuses=CODE:COUNT,...` summed over the threads.

local threads = {}
local requests = {}
local count = 0
statuses = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function init(args)
  math.randomseed(os.time() * 7919 + (thread_id or 0) * 104729)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "sr_console_login=x",
  }
  for i = 1, 1000 do
    local username = (i % 4 == 0) and "admin" or string.format("ghost-%d-%d", thread_id or 0, i)
    local body = string.format("csrf=x&username=%s&password=wrong-password-%d", username, math.random(1e9))
    count = count + 1
    requests[count] = wrk.format("POST", wrk.path, headers, body)
  end
end

function request()
  return requests[math.random(count)]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, _)
  local total = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses") or {}
    for status, n in pairs(counts) do
      total[status] = (total[status] or 0) + n
    end
  end
  local keys = {}
  for status in pairs(total) do
    table.insert(keys, status)
  end
  table.sort(keys)
  local parts = {}
  for _, status in ipairs(keys) do
    table.insert(parts, string.format("%d:%d", status, total[status]))
  end
  local e = summary.errors
  io.write(string.format(
    "FLOOD requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d statuses=%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, table.concat(parts, ",")))
end
