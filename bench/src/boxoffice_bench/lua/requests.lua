-- Each request is the next line of a prepared file, so every request does distinct
-- work: "<bearer token>\t<Idempotency-Key or nothing>\t<JSON body or nothing>".
-- The file is read again from the top if the run outlasts it (the bench sizes it
-- so that a run does not). Every answer's status is counted.
local method = os.getenv("BOXOFFICE_BENCH_METHOD")
local prepared = {}
for line in io.lines(os.getenv("BOXOFFICE_BENCH_REQUESTS")) do
  local token, key, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
  prepared[#prepared + 1] = {token = token, key = key, body = body}
end

local sent = 0
statuses = {}

request = function()
  local r = prepared[sent % #prepared + 1]
  sent = sent + 1
  local headers = {["Authorization"] = "Bearer " .. r.token}
  local body = nil
  if r.key ~= "" then headers["Idempotency-Key"] = r.key end
  if r.body ~= "" then
    headers["Content-Type"] = "application/json"
    body = r.body
  elseif method ~= "GET" then
    body = ""  -- an empty POST still says Content-Length: 0
  end
  return wrk.format(method, nil, headers, body)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
