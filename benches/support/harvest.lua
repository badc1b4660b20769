-- wrk script: one full ListRecords harvest over one keep-alive connection, following
-- resumption tokens; run with -t1 -c1. Prints records, pages and records/s when done.
local path = "/oai?verb=ListRecords&metadataPrefix=oai_dc"
records = 0
pages = 0
bytes = 0
started = 0
finished = 0
local threads = {}

-- wrk's Lua has no sub-second wall clock of its own.
local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*a"))
  p:close()
  return t
end

function setup(thread)
  table.insert(threads, thread)
end

function request()
  if started == 0 then
    started = now()
  end
  return wrk.format("GET", path)
end

function response(status, headers, body)
  if status ~= 200 then
    print("HTTP " .. status)
    wrk.thread:stop()
    return
  end
  pages = pages + 1
  bytes = bytes + #body
  local at = 1
  while true do
    local found = string.find(body, "<record>", at, true)
    if not found then break end
    records = records + 1
    at = found + 8
  end
  local token = string.match(body, "<resumptionToken[^>]*>([^<]+)</resumptionToken>", #body - 2048)
  if token then
    path = "/oai?verb=ListRecords&resumptionToken=" .. token
  elseif finished == 0 then
    finished = now()
    -- wrk's thread:stop() does not end the run before -d; report here and leave.
    local secs = finished - started
    io.write(string.format("harvest: %d records, %d pages, %d bytes, %.2f s, %.0f records/s\n",
      records, pages, bytes, secs, records / secs))
    io.flush()
    os.exit(0)
  end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    if t:get("finished") == 0 then
      print("harvest: the list did not end within the run's duration")
      return
    end
    local r = t:get("records")
    local secs = t:get("finished") - t:get("started")
    io.write(string.format("harvest: %d records, %d pages, %.2f s, %.0f records/s, page latency p50 %.2f ms p99 %.2f ms\n",
      r, t:get("pages"), secs, r / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  end
end
