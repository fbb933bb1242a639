-- The two-step OTP login: step 1 posts the password and gets 401 with an OS-MF session id,
-- step 2 posts a TOTP code with that session id and gets the token. Run with one connection per
-- thread (-t N -c N), so each thread's requests and responses strictly alternate.
-- BENCH_USERS_FILE holds "username password code code ..." lines: codes for successive time
-- steps, each accepted once. Thread i takes the users i, i+N, i+2N ..., so no two threads share
-- a user, and spends each user's codes in order, one per pass over its users. A login is timed
-- from its step 1 to the end of its step 2 (clock_gettime through LuaJIT's FFI).
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *now);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local users = {}
local user_index = 1
local code_index = 1
-- idle -> challenged (step 1 sent) -> ready (session id in hand) -> answered (step 2 sent) -> idle
local phase = "idle"
local current = nil
local session = nil
local started = 0
ok, failed, latencies, exhausted = 0, 0, {}, false

function init(args)
  local thread_count = tonumber(os.getenv("BENCH_THREADS"))
  local line_number = 0
  for line in io.lines(os.getenv("BENCH_USERS_FILE")) do
    if line_number % thread_count == thread_id then
      local fields = {}
      for field in line:gmatch("%S+") do table.insert(fields, field) end
      table.insert(users, fields)
    end
    line_number = line_number + 1
  end
end

local function next_login()
  user_index = user_index + 1
  if user_index > #users then
    user_index = 1
    code_index = code_index + 1
  end
end

function request()
  if phase == "ready" then
    phase = "answered"
    return wrk.format("POST", "/v2.0/tokens",
      { ["Content-Type"] = "application/json", ["X-SessionId"] = session },
      string.format('{"auth":{"RAX-AUTH:passcodeCredentials":{"passcode":"%s"}}}', current[2 + code_index]))
  end
  current = users[user_index]
  if current == nil or current[2 + code_index] == nil then
    -- Out of fresh codes: the bench made too few users. This thread stops, and says so.
    phase = "exhausted"
    return wrk.format("GET", "/health")
  end
  phase = "challenged"
  started = now_ms()
  return wrk.format("POST", "/v2.0/tokens", { ["Content-Type"] = "application/json" },
    string.format('{"auth":{"passwordCredentials":{"username":"%s","password":"%s"}}}', current[1], current[2]))
end

function response(status, headers, body)
  if phase == "challenged" then
    local header = headers["www-authenticate"] or headers["WWW-Authenticate"] or ""
    session = status == 401 and header:match("sessionId='([^']+)'") or nil
    if session then
      phase = "ready"
      return
    end
    failed = failed + 1
    if os.getenv("BENCH_DEBUG") then io.stderr:write("step 1: ", status, " ", body, "\n") end
    next_login()
  elseif phase == "answered" then
    if status == 200 then
      ok = ok + 1
      table.insert(latencies, now_ms() - started)
    else
      failed = failed + 1
      if os.getenv("BENCH_DEBUG") then io.stderr:write("step 2: ", status, " ", body, "\n") end
    end
    next_login()
  else
    exhausted = true
    wrk.thread:stop()
  end
  phase = "idle"
end
