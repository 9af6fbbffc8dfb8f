// Writes the offline basemap (Natural Earth land and country borders from the npm package
// world-atlas, 1:110m) as GeoJSON: OUT_DIR/land.json and OUT_DIR/borders.json.
//
// Rings that cross the antimeridian (Fiji, Chukotka, Wrangel Island) are moved east by 360
// degrees where they are west of it, so they stay whole instead of striping the map;
// Antarctica, which circles the pole, is left as it is.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as topojson from 'topojson-client';

const require = createRequire(import.meta.url);
const out = process.argv[2];
mkdirSync(out, { recursive: true });
const land = JSON.parse(readFileSync(require.resolve('world-atlas/land-110m.json'), 'utf8'));
const countries = JSON.parse(readFileSync(require.resolve('world-atlas/countries-110m.json'), 'utf8'));

const crosses = (ring) => ring.some((p, i) => i > 0 && Math.abs(p[0] - ring[i - 1][0]) > 180);
const circlesPole = (ring) => ring.some((p) => p[1] < -80);
const unwrap = (ring) => (crosses(ring) && !circlesPole(ring) ? ring.map(([x, y]) => [x < 0 ? x + 360 : x, y]) : ring);

const landGeo = topojson.feature(land, land.objects.land);
for (const feature of landGeo.features ?? [landGeo]) {
  const g = feature.geometry;
  if (g.type === 'Polygon') g.coordinates = g.coordinates.map(unwrap);
  if (g.type === 'MultiPolygon') g.coordinates = g.coordinates.map((p) => p.map(unwrap));
}
const borders = topojson.mesh(countries, countries.objects.countries, (a, b) => a !== b);
borders.coordinates = borders.coordinates.filter((line) => !crosses(line));
writeFileSync(`${out}/land.json`, JSON.stringify(landGeo));
writeFileSync(`${out}/borders.json`, JSON.stringify(borders));
console.log(`basemap: land ${JSON.stringify(landGeo).length} bytes, borders ${JSON.stringify(borders).length} bytes`);
