// The map through Caddy (deploy/Caddyfile) in headless Chromium: served at the site's root, it
// finds the API under /api/, draws the coverage, opens a tile, and offers no copy commands
// (the public listener keeps the stores' storage to the admin listener).
//
// Usage: node map.mjs SITE OKAVANGO_2024_TILES OUT_DIR
import { launch } from '../../web/tests/chromium.mjs';

const [site, expectedTiles, out] = process.argv.slice(2);
let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures += 1;
};
const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
// No network: anything not on Caddy is refused.
await context.route('**/*', (route) => (route.request().url().startsWith(site) ? route.continue() : route.abort()));
const page = await context.newPage();
const errors = [];
page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
page.on('pageerror', (e) => errors.push(String(e)));
const answered = [];
page.on('response', (response) => answered.push([new URL(response.url()).pathname, response.status()]));
await page.goto(`${site}/?year=2024&layer=okavango&tile=2024_grid_0.85_49.95`);
await page.waitForSelector('#map[data-state="ready"]', { timeout: 30000 });
const tiles = await page.getAttribute('#map', 'data-coverage-tiles');
check(tiles === expectedTiles, `the coverage drawn through Caddy: ${tiles} tiles, the CLI says ${expectedTiles}`);
await page.waitForSelector('#tile[data-item-id="2024_grid_0.85_49.95"]', { timeout: 10000 });
check(true, 'a tile opens from the API under /api/');
const copyLines = await page.$$('#tile pre.copy');
check(copyLines.length === 0, 'no copy commands: the public listener names no storage');
const failed = answered.filter(([, status]) => status >= 400);
const api = answered.filter(([path]) => path.startsWith('/api/')).map(([path]) => path);
check(failed.length === 0, `every request answered (${answered.length}) ${JSON.stringify(failed.slice(0, 3))}`);
check(api.some((path) => path.startsWith('/api/coverage/')) && api.some((path) => path.startsWith('/api/collections/')),
  `coverage and items asked of the API under /api/ (${api.length} requests)`);
await page.screenshot({ path: `${out}/map-through-caddy.png` });
check(errors.length === 0, `no console errors ${JSON.stringify(errors.slice(0, 3))}`);
await browser.close();
if (failures) {
  console.error(`${failures} check(s) of the map through Caddy failed`);
  process.exit(1);
}
console.log('the map through Caddy: all checks passed');
