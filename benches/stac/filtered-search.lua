-- wrk: GET /search with a CQL2 filter, a different 10-degree box and year each time, limit 10:
-- scaleway's gap (what okavango holds and it lacks) in a box, as a user takes it from the map
-- to a notebook. The store terms are bitmaps, the box the grid's cells: no item is read but
-- the ten rendered.
local counter = 0

setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

init = function(args)
  math.randomseed(os.time() * 1000 + seed)
end

local function encode(text)
  return (text:gsub("[^%w%-_%.]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

request = function()
  local west, south = 10 * math.random(-18, 17), 10 * math.random(-6, 6)
  local year = math.random(2017, 2025)
  local filter = string.format(
    "NOT a_contains(tessera:stores, ('scaleway')) AND a_contains(tessera:stores, ('okavango')) AND s_intersects(geometry, BBOX(%d, %d, %d, %d))",
    west, south, west + 10, south + 10)
  return wrk.format("GET", string.format("/search?collections=geotessera-%d&limit=10&filter=%s", year, encode(filter)))
end
