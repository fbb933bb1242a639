-- POST /v2.0/tokens with passwordCredentials, rotating over "username password" lines in
-- BENCH_USERS_FILE; counts the 200s.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local bodies = {}
local position = 1
ok, failed = 0, 0

function init(args)
  for line in io.lines(os.getenv("BENCH_USERS_FILE")) do
    local username, password = line:match("^(%S+) (%S+)")
    if username then
      table.insert(bodies, string.format(
        '{"auth":{"passwordCredentials":{"username":"%s","password":"%s"}}}', username, password))
    end
  end
  position = thread_id % #bodies + 1
end

function request()
  local body = bodies[position]
  position = position % #bodies + 1
  return wrk.format("POST", "/v2.0/tokens", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else failed = failed + 1 end
end
