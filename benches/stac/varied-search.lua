-- wrk: GET /search with a different 1-degree box and year each time, limit 10: what a map
-- panning about or a crawler asks, so the page cache rarely answers.
--
-- SEARCH_BOXES names a Lua file returning { {west, south, year}, ... }: the 1-degree boxes
-- that hold at least 10 registry tiles in that year (benches/stac/run.sh writes it from the
-- registry), so every page holds 10 items, as the fixed ceiling's does.
local boxes = dofile(os.getenv("SEARCH_BOXES"))
local counter = 0

setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

init = function(args)
  math.randomseed(os.time() * 1000 + seed)
end

request = function()
  local box = boxes[math.random(#boxes)]
  local path = string.format("/search?collections=geotessera-%d&bbox=%d,%d,%d,%d&limit=10",
    box[3], box[1], box[2], box[1] + 1, box[2] + 1)
  return wrk.format("GET", path)
end
