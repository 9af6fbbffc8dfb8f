-- wrk: GET /search with a different 1-degree box and year each time, over land, limit 10: what
-- a map panning about or a crawler asks, so the page cache rarely answers.
--
-- LAND_BOXES names a Lua file returning { {west, south}, ... } (benches/stac/run.sh writes it
-- from the land mask); YEARS is "first,last".
local boxes = dofile(os.getenv("LAND_BOXES"))
local first, last = string.match(os.getenv("YEARS") or "2017,2025", "(%d+),(%d+)")
first, last = tonumber(first), tonumber(last)
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
  local year = math.random(first, last)
  local path = string.format("/search?collections=geotessera-%d&bbox=%d,%d,%d,%d&limit=10",
    year, box[1], box[2], box[1] + 1, box[2] + 1)
  return wrk.format("GET", path)
end
