// STAC Browser against tessera serve, in headless chromium, clicked through like a user:
// the landing page's collections, a collection's first two pages of items, an item with its
// files on every store, and a collection's filter form (its queryables, a filtered result).
// What it shows is compared with the API's own answers.
//
// Usage: node stac-browser.mjs API_ROOT STAC_BROWSER_URL OUT_DIR
import { launch } from '../../web/tests/chromium.mjs';

const [api, ui, out] = process.argv.slice(2);
let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures += 1;
};
const getJson = async (url) => (await fetch(url)).json();
const same = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
// No network: only the API and STAC Browser's own files (its OpenStreetMap tiles are refused).
await context.route('**/*', (route) => {
  const url = route.request().url();
  return url.startsWith(api) || url.startsWith(ui) ? route.continue() : route.abort();
});
const page = await context.newPage();
const apiProblems = [];
page.on('requestfailed', (r) => r.url().startsWith(api) && apiProblems.push(`${r.method()} ${r.url()}: ${r.failure().errorText}`));
page.on('response', (r) => r.url().startsWith(api) && r.status() >= 400 && apiProblems.push(`${r.status()} ${r.url()}`));
page.on('pageerror', (e) => apiProblems.push(`page error: ${e}`));

// Item ids linked from the page, in the order shown.
const itemLinks = () => page.$$eval('a[href*="/items/"]', (as) => [...new Set(as.map((a) => decodeURIComponent(a.getAttribute('href').split('/items/')[1])))]);
const until = async (condition, what) => {
  for (let tries = 0; tries < 100; tries++) {
    if (await condition()) return true;
    await page.waitForTimeout(100);
  }
  check(false, `timed out waiting for ${what}`);
  return false;
};

// 1. The landing page lists every collection.
await page.goto(ui);
const collections = (await getJson(`${api}/collections`)).collections;
const collectionLinks = () => page.$$eval('a[href*="/collections/"]', (as) => [...new Set(as.map((a) => a.getAttribute('href').split('/collections/')[1]))]);
await until(async () => (await collectionLinks()).length >= collections.length, 'the collections');
check(same(await collectionLinks(), collections.map((c) => c.id)), `the landing page lists the ${collections.length} collections`);
await page.screenshot({ path: `${out}/landing.png` });

// 2. A collection's first page of items, then the next page.
await page.click('a[href$="/collections/geotessera-2024"]');
const first = await getJson(`${api}/collections/geotessera-2024/items`);
await until(async () => (await itemLinks()).length === first.features.length, 'the first page of items');
const firstShown = await itemLinks();
check(same(firstShown, first.features.map((f) => f.id)), `page 1 shows the API's ${first.features.length} items`);
const titles = await page.$$eval('.card-title', (cards) => cards.map((c) => c.textContent.trim()));
check(first.features.every((f) => titles.includes(f.id)), 'every item card is titled with its whole id');
await page.screenshot({ path: `${out}/collection.png` });
const second = await getJson(first.links.find((l) => l.rel === 'next').href);
await page.getByText('Next ›').first().click();
await until(async () => same(await itemLinks(), second.features.map((f) => f.id)), 'the second page');
check(same(await itemLinks(), second.features.map((f) => f.id)), `page 2 (the API's next link) shows the API's ${second.features.length} items`);

// 3. An item: every file on every store that holds it.
const id = second.features[0].id;
await page.click(`a[href$="/items/${id}"]`);
const item = await getJson(`${api}/collections/geotessera-2024/items/${id}`);
const files = Object.values(item.assets).flatMap((a) => [a.href, ...Object.values(a.alternate || {}).map((alt) => alt.href)]);
const fileLinks = () => page.$$eval('a[href^="http"]', (as) => as.map((a) => a.href));
await until(async () => {
  const links = new Set(await fileLinks());
  return files.every((f) => links.has(f));
}, 'the item page');
const shown = new Set(await fileLinks());
const missing = files.filter((f) => !shown.has(f));
check(missing.length === 0, `item ${id}: all ${files.length} file links (each asset on each store) are shown ${JSON.stringify(missing.slice(0, 2))}`);
const text = await page.textContent('body');
check(item.properties['tessera:stores'].every((s) => text.includes(s)) && text.includes('Size'), `item ${id}: its stores and file sizes are shown`);
await page.screenshot({ path: `${out}/item.png`, fullPage: true });

// 4. The filter form of a collection: the queryables it can offer, then a filtered result.
await page.goto(`${ui}#/collections/geotessera-2024`);
await page.getByText('Show Filters').click();
await page.getByText('Add filter').click();
const offered = await page.$$eval('.queryables .dropdown-item .badge', (badges) => badges.map((b) => b.textContent.trim()));
const queryables = Object.keys((await getJson(`${api}/collections/geotessera-2024/queryables`)).properties);
// STAC Browser offers the scalar queryables; arrays and geometries have no input of its own.
const scalar = ['id', 'datetime', 'year', 'grid:code', 'tessera:bytes'];
check(scalar.every((q) => offered.includes(q) && queryables.includes(q)) && offered.every((q) => queryables.includes(q)), `the filter form offers the API's queryables ${JSON.stringify(offered)}`);
const code = 'TESSERA-grid_0.85_49.95';
await page.locator('.queryables .dropdown-item', { hasText: 'grid:code' }).click();
await page.locator('.queryable-row input').first().fill(code);
await page.getByText('Submit').click();
const filtered = await getJson(`${api}/collections/geotessera-2024/items?filter=${encodeURIComponent(`"grid:code" = '${code}'`)}`);
const wanted = filtered.features.map((f) => f.id);
await until(async () => same(await itemLinks(), wanted), 'the filtered items');
check(wanted.length === 1 && same(await itemLinks(), wanted), `a filter on grid:code shows the API's filtered items ${JSON.stringify(await itemLinks())}`);
await page.screenshot({ path: `${out}/filter.png`, fullPage: true });

const alerts = await page.$$eval('.alert-danger', (as) => as.map((a) => a.textContent.trim()));
check(alerts.length === 0, `no STAC Browser error messages ${JSON.stringify(alerts.slice(0, 2))}`);
check(apiProblems.length === 0, `no failed API request ${JSON.stringify(apiProblems.slice(0, 3))}`);
await browser.close();
if (failures) {
  console.error(`${failures} STAC Browser check(s) failed`);
  process.exit(1);
}
console.log('STAC Browser: all checks passed');
