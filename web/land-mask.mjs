// Writes the land mask the demo generator places its tiles on: the basemap's land (Natural
// Earth countries at 1:110m, merged and cut at the antimeridian by prepare-basemap.mjs)
// rasterised onto the 0.1-degree grid, a cell being land when its centre is.
//
// Usage: node web/land-mask.mjs OUT_FILE   (checked in as fixtures/data/land-0.1deg.bin;
// scripts/build-web.sh writes it again and compares)
//
// Format: the 8 bytes `TSLAND01`, then the land's runs in grid order, 6 bytes each, little
// endian: the grid row (0 at the south pole), the first and the last column (0 at -180) of
// the run, both included.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basemap } from './prepare-basemap.mjs';

const require = createRequire(import.meta.url);
const countries = JSON.parse(readFileSync(require.resolve('world-atlas/countries-110m.json'), 'utf8'));
const { land } = basemap(countries);
const edges = [];
for (const polygon of land.geometry.coordinates) {
  for (const ring of polygon) {
    for (let i = 1; i < ring.length; i++) edges.push([ring[i - 1], ring[i]]);
  }
}
const runs = [];
for (let row = 0; row < 1800; row++) {
  // Where the row's centre line crosses the land's edges; even-odd between them.
  const lat = -90 + (row + 0.5) / 10;
  const crossings = [];
  for (const [[x1, y1], [x2, y2]] of edges) {
    if (y1 > lat !== y2 > lat) crossings.push(x1 + ((lat - y1) * (x2 - x1)) / (y2 - y1));
  }
  crossings.sort((a, b) => a - b);
  for (let i = 0; i + 1 < crossings.length; i += 2) {
    // Columns whose centre (-180 + (col + 0.5) / 10) lies between the two crossings.
    const first = Math.max(0, Math.ceil((crossings[i] + 180) * 10 - 0.5));
    const last = Math.min(3599, Math.floor((crossings[i + 1] + 180) * 10 - 0.5));
    if (last >= first) runs.push([row, first, last]);
  }
}
// Pieces of one polygon meet at the antimeridian, and polygons may touch: join what touches.
const joined = [];
for (const run of runs.sort((a, b) => a[0] - b[0] || a[1] - b[1])) {
  const previous = joined[joined.length - 1];
  if (previous && previous[0] === run[0] && run[1] <= previous[2] + 1) previous[2] = Math.max(previous[2], run[2]);
  else joined.push([...run]);
}
const out = Buffer.alloc(8 + 6 * joined.length);
out.write('TSLAND01', 0, 'ascii');
joined.forEach(([row, first, last], i) => {
  out.writeUInt16LE(row, 8 + 6 * i);
  out.writeUInt16LE(first, 10 + 6 * i);
  out.writeUInt16LE(last, 12 + 6 * i);
});
writeFileSync(process.argv[2], out);
const cells = joined.reduce((sum, [, first, last]) => sum + last - first + 1, 0);
console.log(`land mask: ${cells} land cells in ${joined.length} runs, ${out.length} bytes`);
