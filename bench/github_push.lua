-- wrk script: POST a signed GitHub push webhook, one unique delivery id per request.
--
--   wrk ... -s bench/github_push.lua URL -- PAYLOAD_FILE SIGNATURE_FILE NONCE ACK
--
-- PAYLOAD_FILE   raw body (sent byte for byte: the signature covers it)
-- SIGNATURE_FILE "sha256=<hex>" (one line)
-- NONCE          8 hex digits, unique per run: prefix of every X-GitHub-Delivery
-- ACK            "202" (only 202 counts as acknowledged) or "2xx" (any 2xx does)
--
-- X-GitHub-Delivery is UUID-shaped: NONCE-<thread id>-4000-8000-<per-thread counter>,
-- so no two requests of a run (over all threads) share a delivery id.
-- done() prints one machine-readable line starting with "BENCH " (times in µs).

local threads = {}
local next_id = 0

function setup(thread)
   next_id = next_id + 1
   thread:set("tid", next_id)
   table.insert(threads, thread)
end

local function slurp(path, strip)
   local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
   local s = f:read("*a")
   f:close()
   if strip then s = s:gsub("%s+$", "") end
   return s
end

function init(args)
   body = slurp(args[1], false)
   signature = slurp(args[2], true)
   nonce = args[3] or "00000000"
   ack_mode = args[4] or "202"
   counter = 0
   counts = {}     -- status code -> responses (copied out by done())
   headers = {
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "GitHub-Hookshot/a1b2c3d",
      ["X-GitHub-Event"] = "push",
      ["X-GitHub-Hook-ID"] = "451236789",
      ["X-GitHub-Hook-Installation-Target-Type"] = "repository",
      ["X-GitHub-Hook-Installation-Target-ID"] = "634958210",
      ["X-Hub-Signature-256"] = signature,
   }
end

function request()
   counter = counter + 1
   headers["X-GitHub-Delivery"] = string.format("%s-%04x-4000-8000-%012x", nonce, tid, counter)
   return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, resp_body)
   counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
   local total, ack = 0, 0
   local by_status = {}
   local merged = {}
   for _, t in ipairs(threads) do
      local c = t:get("counts") or {}
      for status, n in pairs(c) do
         merged[status] = (merged[status] or 0) + n
      end
   end
   local mode = ack_mode
   if mode == nil then mode = (threads[1] and threads[1]:get("ack_mode")) or "202" end
   local keys = {}
   for status in pairs(merged) do table.insert(keys, status) end
   table.sort(keys)
   for _, status in ipairs(keys) do
      local n = merged[status]
      total = total + n
      if (mode == "2xx" and status >= 200 and status < 300) or tostring(status) == mode then
         ack = ack + n
      end
      table.insert(by_status, string.format("%d:%d", status, n))
   end
   local e = summary.errors
   local socket_errors = e.connect + e.read + e.write + e.timeout
   io.write(string.format(
      "BENCH duration_us=%d responses=%d ack=%d not_ack=%d socket_errors=%d " ..
      "connect=%d read=%d write=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "mean_us=%.0f bytes=%d statuses=%s\n",
      summary.duration, total, ack, total - ack, socket_errors,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean, summary.bytes, (#by_status > 0) and table.concat(by_status, ",") or "-"))
end
