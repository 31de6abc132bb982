-- wrk script: every write carries `depth` pipelined GET requests (default 16),
-- the shape that shows whether a server answers a batch with one write.
-- Usage: wrk -s mod/bench/suite/pipeline.lua URL -- 16
init = function(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format(nil, wrk.path)
  end
  batch = table.concat(requests)
end

request = function()
  return batch
end
