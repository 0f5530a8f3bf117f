-- wrk script for POST /v1/keys/verify, rotating through the raw keys in $KEYWARD_BENCH_KEYS
-- with a permission check. Requests are formatted once in init(), so the load generator
-- spends its time sending, not building strings. KEYWARD_BENCH_PATH sends the same
-- requests elsewhere (bench/run.sh: /__bench/floor).
local requests = {}
local i = 0

function init(args)
  local token = os.getenv("KEYWARD_BENCH_TOKEN")
  local permission = os.getenv("KEYWARD_BENCH_PERMISSION") or "keys:read"
  local path = os.getenv("KEYWARD_BENCH_PATH") or "/v1/keys/verify"
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  -- The first 1000 keys: the file holds every key with `bench/run.sh --hot`.
  for key in io.lines(os.getenv("KEYWARD_BENCH_KEYS")) do
    if #requests >= 1000 then break end
    if key ~= "" then
      local body = '{"key":"' .. key .. '","permission":"' .. permission .. '"}'
      requests[#requests + 1] = wrk.format("POST", path, headers, body)
    end
  end
  -- Each wrk thread starts at a different place in the rotation.
  i = math.random(#requests) - 1
end

function request()
  i = i % #requests + 1
  return requests[i]
end
