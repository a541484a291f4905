-- wrk script for bench/webhook_load.py: replays pre-generated raw HTTP requests (signed Twilio
-- webhooks, each with its own MessageSid), each at most once, and reports what it saw.
--
--   wrk -t T -c C -d 10s -s bench/webhook_load.lua http://127.0.0.1:PORT -- POOL
--
-- Thread i reads POOL.i: records of "<byte length>\n<raw request>", written by webhook_load.py.
-- done() prints "BENCH key=value" lines (latencies in microseconds) for webhook_load.py to parse.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

function init(args)
   local path = args[1] .. "." .. tid
   local f = assert(io.open(path, "rb"))
   local data = f:read("*a")
   f:close()
   pool = {}
   local pos, n = 1, 0
   while pos <= #data do
      local nl = string.find(data, "\n", pos, true)
      local len = tonumber(string.sub(data, pos, nl - 1))
      n = n + 1
      pool[n] = string.sub(data, nl + 1, nl + len)
      pos = nl + 1 + len
   end
   pool_size = n
   data = nil
   sent = 0        -- request() calls; beyond pool_size a request is a repeat (its sid was used)
   ok2xx = 0
   non2xx = 0
   statuses = {}   -- non-2xx status -> count
   first_error = ""
end

function request()
   sent = sent + 1
   return pool[(sent - 1) % pool_size + 1]
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok2xx = ok2xx + 1
   else
      non2xx = non2xx + 1
      local key = tostring(status)
      statuses[key] = (statuses[key] or 0) + 1
      if first_error == "" then
         first_error = status .. " " .. string.sub(body or "", 1, 200)
      end
   end
end

function done(summary, latency, requests)
   local ok, bad, sent_total, repeats, pooled = 0, 0, 0, 0, 0
   local codes, sample = {}, ""
   for _, t in ipairs(threads) do
      ok = ok + t:get("ok2xx")
      bad = bad + t:get("non2xx")
      local s, p = t:get("sent"), t:get("pool_size")
      sent_total = sent_total + s
      pooled = pooled + p
      if s > p then repeats = repeats + (s - p) end
      for code, count in pairs(t:get("statuses")) do
         codes[code] = (codes[code] or 0) + count
      end
      if sample == "" then sample = t:get("first_error") end
   end
   local e = summary.errors
   local out = {
      {"responses", summary.requests}, {"duration_us", summary.duration},
      {"ok2xx", ok}, {"non2xx", bad},
      {"connect_errors", e.connect}, {"read_errors", e.read}, {"write_errors", e.write},
      {"timeouts", e.timeout}, {"status_errors", e.status},
      {"p50_us", latency:percentile(50)}, {"p90_us", latency:percentile(90)},
      {"p99_us", latency:percentile(99)}, {"max_us", latency.max}, {"mean_us", latency.mean},
      {"sent", sent_total}, {"pool", pooled}, {"repeats", repeats},
   }
   for _, kv in ipairs(out) do
      io.write(string.format("BENCH %s=%s\n", kv[1], tostring(kv[2])))
   end
   local parts = {}
   for code, count in pairs(codes) do table.insert(parts, code .. ":" .. count) end
   io.write("BENCH codes=" .. table.concat(parts, ",") .. "\n")
   io.write("BENCH first_error=" .. string.gsub(sample, "\n", " ") .. "\n")
end
