-- wrk script for bench/token-retrieval.sh.
--
-- With TOKENS_FILE set (lines `<token>\t<n>`), every request is `GET <url path>` with
-- `Authorization: Bearer <a random token from the file>`; with EXCHANGE_AUTH set as well (an
-- HTTP Basic credential), it is instead an RFC 8693 token exchange, `POST <url path>` of a
-- form whose subject_token is the random token and whose resource is EXCHANGE_RESOURCE. The
-- requests are formatted once per thread in init(), so the per-request cost on the load
-- generator stays small. Without TOKENS_FILE, wrk sends its plain static request (the bare
-- endpoint).
--
-- done() prints one machine-readable `RESULT ...` line (latencies in microseconds; `non2xx` is
-- wrk's count of responses with a status above 399, i.e. "Non-2xx or 3xx responses").

local tokens_file = os.getenv("TOKENS_FILE")
local exchange_auth = os.getenv("EXCHANGE_AUTH")
local exchange_resource = os.getenv("EXCHANGE_RESOURCE")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

if tokens_file and tokens_file ~= "" then
  local requests = {}
  local count = 0

  function init(args)
    math.randomseed(os.time() * 7919 + (thread_id or 0) * 104729)
    for line in io.lines(tokens_file) do
      local token = line:match("^([^\t]+)")
      if token then
        count = count + 1
        if exchange_auth and exchange_auth ~= "" then
          local body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
            .. "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
            .. "&resource=" .. exchange_resource:gsub(":", "%%3A")
            .. "&subject_token=" .. token
          requests[count] = wrk.format("POST", wrk.path, {
            ["Authorization"] = "Basic " .. exchange_auth,
            ["Content-Type"] = "application/x-www-form-urlencoded",
          }, body)
        else
          requests[count] = wrk.format("GET", wrk.path, { ["Authorization"] = "Bearer " .. token })
        end
      end
    end
    if count == 0 then
      error("no tokens in " .. tokens_file)
    end
  end

  function request()
    return requests[math.random(count)]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d non2xx=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
