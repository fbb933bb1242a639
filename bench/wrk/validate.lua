-- GET /v2.0/tokens/{id} with the same token as X-Auth-Token (a user validating its own token),
-- rotating over the tokens listed one a line in BENCH_TOKENS_FILE.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local tokens = {}
local position = 1

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
    if line ~= "" then table.insert(tokens, line) end
  end
  position = (thread_id * 7919) % #tokens + 1
end

function request()
  local token = tokens[position]
  position = position % #tokens + 1
  return wrk.format("GET", "/v2.0/tokens/" .. token, { ["X-Auth-Token"] = token })
end
