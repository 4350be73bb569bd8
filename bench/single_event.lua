-- wrk script: one CloudEvent per request, each with a fresh id, 1,000 subjects.
-- Usage: wrk -s bench/single_event.lua -H "Authorization: Bearer $KEY" URL/api/v1/events
local counter = 0
local thread_id = 0

function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  prefix = string.format("w%d-%d-", tid, math.random(1, 1000000000))
  headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Content-Type"] = "application/cloudevents+json"
end

function response(status, response_headers, body)
  if status ~= 204 then print("unexpected status " .. status .. ": " .. body) end
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"specversion":"1.0","id":"%s%d","source":"wrk","type":"tokens","subject":"bench-%d",' ..
    '"data":{"tokens":%d,"model":"gpt-4o"}}',
    prefix, counter, counter % 1000, counter % 97 + 1)
  return wrk.format("POST", nil, headers, body)
end
