-- wrk script for the ingestor load run (scripts/load-ingestor.sh): every request posts a valid
-- transaction with a distinct id; accounts, cards, devices and merchants repeat as in real
-- traffic. Prints one machine-readable line at the end.

local counter = 0
local run = os.getenv("LOAD_RUN_ID") or tostring(os.time())
local headers = { ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  local body = string.format(
    '{"id":"load-%s-%d","account_id":"acc-%d","card_id":"card-%d","device_id":"dev-%d",' ..
    '"merchant_id":"m-%d","amount":"%d.%02d","currency":"EUR","timestamp":"2024-05-01T12:%02d:%02dZ"}',
    run, counter, counter % 997, counter % 4999, counter % 2999, counter % 211,
    1 + counter % 500, counter % 100, math.floor(counter / 60) % 60, counter % 60)
  return wrk.format("POST", "/transactions", headers, body)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d seconds=%.2f rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f " ..
    "non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
