-- wrk prints latencies over 1 ms rounded to 10 us ("1.13ms"); at 1 ms service time that is the size of the
-- effect measured. This prints the p50 and p99 it recorded, in whole microseconds.
done = function(summary, latency, requests)
  io.write(string.format("l7tap-p50-us %d\nl7tap-p99-us %d\n", latency:percentile(50), latency:percentile(99)))
end
