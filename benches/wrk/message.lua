-- wrk script: each request is one customer message to /chat/message (the
-- seeds' route) in one of the existing sessions listed in the file named by
-- the first script argument, taken in turn. Prints the figures run.sh reads.
local sessions = {}
local next_session = 1

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then sessions[#sessions + 1] = line end
  end
  -- Threads start at different places in the list.
  next_session = (math.random(#sessions))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local questions = {
  "Do you ship to India?",
  "How long does delivery take?",
  "What is your return policy?",
  "When is support open?",
  "How do refunds work?",
}

function request()
  local session = sessions[next_session]
  next_session = next_session % #sessions + 1
  local question = questions[next_session % #questions + 1]
  local body = '{"message":"' .. question .. '","sessionId":"' .. session .. '"}'
  return wrk.format(nil, "/chat/message", nil, body)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "requests=%d failed=%d msg_per_s=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, failed, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
