// Navigation to coverage drawn, in headless Chromium, beside MapLibre alone.
//
// Usage: node navigate.mjs BASE_URL RUNS [STORE]   (STORE for the one-store case: okavango)
// Each run is a fresh browser context (cold cache). The app's own clock (`data-timings`,
// milliseconds from navigation) says when the bitmaps were in, painted, handed to the map
// and drawn (MapLibre's first `idle` with the coverage in it). The peer is `bare.html`:
// the same MapLibre build with a background-only style, timed to its first `idle`.
import { launch } from '../../web/tests/chromium.mjs';

const [base, runs, store] = [process.argv[2], Number(process.argv[3] || 7), process.argv[4] || 'okavango'];
const browser = await launch();

async function navigate(path, ready) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  await context.route('**/*', (r) => (r.request().url().startsWith(base) ? r.continue() : r.abort()));
  const page = await context.newPage();
  await page.goto(`${base}${path}`);
  await page.waitForSelector(ready, { timeout: 30000 });
  const timings = JSON.parse(await page.getAttribute('#map', 'data-timings'));
  await context.close();
  return timings;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const summary = (values) => `median ${median(values)} ms (min ${Math.min(...values)}, max ${Math.max(...values)})`;

const cases = [
  [`one store (${store} 2024)`, `/map/?year=2024&layer=${store}`],
  ['all stores by count (3 bitmaps)', '/map/?year=2024&layer=all'],
];
const bare = [];
for (let run = 0; run < runs; run++) bare.push((await navigate('/map/bare.html', '#map[data-state="ready"]')).drawn);
console.log(`MapLibre alone, navigation to first idle: ${summary(bare)}`);
for (const [name, path] of cases) {
  const rows = [];
  for (let run = 0; run < runs; run++) rows.push(await navigate(path, '#map[data-state="ready"]'));
  const drawn = rows.map((t) => t.drawn);
  console.log(`${name}: navigation to coverage drawn ${summary(drawn)}; ${(median(drawn) / median(bare)).toFixed(2)}x MapLibre alone`);
  for (const step of ['fetched', 'painted', 'shown']) console.log(`  ${step}: ${summary(rows.map((t) => t[step]))}`);
}
await browser.close();
