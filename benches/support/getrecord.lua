-- wrk script: GetRecord for random identifiers of a store made by gen_records.
local n = tonumber(os.getenv("BENCH_RECORDS") or "1000000")
math.randomseed(42)
request = function()
  local i = math.random(0, n - 1)
  return wrk.format("GET", string.format(
    "/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:bench.example.org:%08d", i))
end
