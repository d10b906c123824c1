-- What the benchmark reads back from wrk, printed once the run is over: completed
-- requests, duration (us), socket errors, answers above 399, latency percentiles
-- (us), and the count of each status when the script counted them.
local threads = {}

setup = function(thread)
  threads[#threads + 1] = thread
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("boxoffice-bench summary %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status))
  io.write(string.format("boxoffice-bench latency %.0f %.0f\n",
    latency:percentile(50), latency:percentile(99)))
  for _, thread in ipairs(threads) do
    local counted = thread:get("statuses")
    if counted then
      for status, count in pairs(counted) do
        io.write(string.format("boxoffice-bench status %d %d\n", status, count))
      end
    end
  end
end
