// Writes the offline basemap (Natural Earth countries from the npm package world-atlas,
// 1:110m) as GeoJSON: OUT_DIR/land.json, the countries merged into land, and
// OUT_DIR/borders.json, the lines between them. Land is merged from the countries rather than
// taken from world-atlas's land file because that one fills the Caspian Sea.
//
// A ring that crosses the antimeridian (Fiji, Chukotka and with it all of Afro-Eurasia,
// Wrangel Island) jumps between +180 and -180 in world-atlas. Drawn as it is, its fill
// stripes the world; moved whole, half of it lands a world away. So each such ring is made
// continuous (every step taken the short way round), cut at the antimeridian, and the part
// beyond it moved back by 360 degrees: two pieces that meet at the line. Borders are split
// there the same way. Antarctica, whose ring circles the pole, is drawn as it is.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as topojson from 'topojson-client';

const require = createRequire(import.meta.url);

// The ring with each step of more than 180 degrees of longitude taken the short way round.
export function continuous(ring) {
  const out = [];
  let shift = 0;
  for (const [x, y] of ring) {
    if (out.length > 0) {
      const previous = out[out.length - 1][0];
      while (x + shift - previous > 180) shift -= 360;
      while (x + shift - previous < -180) shift += 360;
    }
    out.push([x + shift, y]);
  }
  return out;
}

// Whether a continuous ring goes round the pole (it ends a world away from its start).
const circlesPole = (ring) => Math.abs(ring[ring.length - 1][0] - ring[0][0]) > 180;

// The part of a ring with `lo <= x <= hi` (Sutherland-Hodgman against two vertical lines),
// closed, or null when nothing is left.
export function clip(ring, lo, hi) {
  const against = (points, inside, cross) => {
    const out = [];
    for (let i = 0; i < points.length; i++) {
      const [a, b] = [points[i], points[(i + 1) % points.length]];
      if (inside(b)) {
        if (!inside(a)) out.push(cross(a, b));
        out.push(b);
      } else if (inside(a)) {
        out.push(cross(a, b));
      }
    }
    return out;
  };
  const at = (x) => (a, b) => [x, a[1] + ((b[1] - a[1]) * (x - a[0])) / (b[0] - a[0])];
  const open = ring.slice(0, -1);
  let points = against(open, (p) => p[0] >= lo, at(lo));
  points = against(points, (p) => p[0] <= hi, at(hi));
  if (points.length < 3) return null;
  return [...points, points[0]];
}

// A polygon (outer ring, holes) as one or more polygons within -180..180.
export function splitPolygon(rings) {
  const unwrapped = rings.map(continuous);
  if (unwrapped.some(circlesPole)) return [rings];
  const xs = unwrapped.flat().map(([x]) => x);
  const [west, east] = [Math.min(...xs), Math.max(...xs)];
  if (west >= -180 && east <= 180) return [rings];
  const pieces = [];
  // Each world the polygon reaches into, moved back into -180..180.
  for (let k = Math.floor((west + 180) / 360); k <= Math.floor((east + 180) / 360); k++) {
    const [lo, hi] = [k * 360 - 180, k * 360 + 180];
    const clipped = unwrapped.map((ring) => clip(ring, lo, hi));
    if (!clipped[0]) continue;
    pieces.push(clipped.filter(Boolean).map((ring) => ring.map(([x, y]) => [x - k * 360, y])));
  }
  return pieces;
}

// A line cut where it crosses the antimeridian, each part ending on it.
export function splitLine(line) {
  const parts = [[line[0]]];
  for (let i = 1; i < line.length; i++) {
    const [a, b] = [line[i - 1], line[i]];
    if (Math.abs(b[0] - a[0]) > 180) {
      const edge = a[0] > 0 ? 180 : -180;
      const bx = b[0] + (a[0] > 0 ? 360 : -360);
      const y = a[1] + ((b[1] - a[1]) * (edge - a[0])) / (bx - a[0]);
      parts[parts.length - 1].push([edge, y]);
      parts.push([[-edge, y]]);
    }
    parts[parts.length - 1].push(b);
  }
  return parts.filter((part) => part.length > 1);
}

// Land as a MultiPolygon of pieces within -180..180, and borders as a MultiLineString.
export function basemap(countries) {
  const merged = topojson.merge(countries, countries.objects.countries.geometries);
  const polygons = merged.coordinates.flatMap(splitPolygon);
  const borders = topojson.mesh(countries, countries.objects.countries, (a, b) => a !== b);
  return {
    land: { type: 'Feature', properties: {}, geometry: { type: 'MultiPolygon', coordinates: polygons } },
    borders: { type: 'MultiLineString', coordinates: borders.coordinates.flatMap(splitLine) },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  mkdirSync(out, { recursive: true });
  const read = (name) => JSON.parse(readFileSync(require.resolve(`world-atlas/${name}`), 'utf8'));
  const { land, borders } = basemap(read('countries-110m.json'));
  writeFileSync(`${out}/land.json`, JSON.stringify(land));
  writeFileSync(`${out}/borders.json`, JSON.stringify(borders));
  console.log(`basemap: land ${JSON.stringify(land).length} bytes, borders ${JSON.stringify(borders).length} bytes`);
}
