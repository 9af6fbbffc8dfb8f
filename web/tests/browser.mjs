// The coverage map in a real browser (Debian's chromium, headless, via playwright-core),
// against `tessera serve` on 127.0.0.1 with the small demo inventory and no network.
//
// Usage: node browser.mjs BASE_URL FACTS_JSON OUT_DIR
// FACTS_JSON is written by scripts/web-check.sh from the CLI: `tessera status --json` and
// `tessera diff okavango scaleway --year 2024`. Exits non-zero on the first failed check;
// screenshots go to OUT_DIR.
import { launch } from './chromium.mjs';
import { readFileSync, mkdirSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const [base, factsFile, out] = process.argv.slice(2);
const facts = JSON.parse(readFileSync(factsFile, 'utf8'));
mkdirSync(out, { recursive: true });
const STORE = [232, 0, 140];
const MISSING = [220, 20, 60];
// The all-stores layer's colours for tiles held by one store and by two.
const HELD_BY_1 = [230, 60, 30];
const HELD_BY_2 = [245, 170, 20];
let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures += 1;
};

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
// No network: anything not on the server under test is refused, so nothing leaks out, except
// the imagery web-check.sh configures, whose tiles are served here in one plain colour.
const IMAGERY = [40, 90, 200];
const imageryTile = png(256, 256, IMAGERY);
const offline = (context) => context.route('**/*', (route) => {
  const url = route.request().url();
  if (url.startsWith('https://imagery.test/')) return route.fulfill({ contentType: 'image/png', body: imageryTile });
  return url.startsWith(base) ? route.continue() : route.abort();
});
await offline(context);

// A PNG of one colour (8-bit RGB), for the imagery tiles.
function png(width, height, rgb) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => bytes.reduce((c, b) => crcTable[(c ^ b) & 0xff] ^ (c >>> 8), 0xffffffff) ^ 0xffffffff;
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body) >>> 0, 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.from([0, ...Array.from({ length: width }, () => rgb).flat()]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', pixels), chunk('IEND', Buffer.alloc(0))]);
}

async function open(query, colour) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/map/${query}`);
  await page.waitForSelector('#map[data-state="ready"]', { timeout: 30000 });
  const coloured = await page.evaluate(countColour, colour);
  await idle(page);
  return { page, errors, coloured };
}

// Pixels of the map's canvas within 2 of an RGB colour.
const countColour = (rgb) => {
  const gl = window.tesseraMap.getCanvas();
  const copy = document.createElement('canvas');
  copy.width = gl.width; copy.height = gl.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(gl, 0, 0);
  const data = ctx.getImageData(0, 0, copy.width, copy.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - rgb[0]) <= 2 && Math.abs(data[i + 1] - rgb[1]) <= 2 && Math.abs(data[i + 2] - rgb[2]) <= 2) n += 1;
  }
  return n;
};

const idle = (page) => page.evaluate(() => new Promise((resolve) => {
  const map = window.tesseraMap;
  if (map.loaded() && !map.isMoving()) { map.once('idle', resolve); map.triggerRepaint(); } else { map.once('idle', resolve); }
}));

const jump = async (page, lon, lat, zoom) => {
  await page.evaluate(([lon, lat, zoom]) => window.tesseraMap.jumpTo({ center: [lon, lat], zoom }), [lon, lat, zoom]);
  await idle(page);
};

// The map's pixels around `[lon, lat]` points: for each, where it is on the canvas and the
// page, whether it is on the canvas, and the (2 * radius + 1)^2 pixels centred on it.
const around = (page, points, radius) => page.evaluate(([points, radius]) => {
  const map = window.tesseraMap;
  const gl = map.getCanvas();
  const copy = document.createElement('canvas');
  copy.width = gl.width; copy.height = gl.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(gl, 0, 0);
  const ratio = gl.width / gl.clientWidth;
  const rect = gl.getBoundingClientRect();
  const side = 2 * radius + 1;
  return points.map(([lon, lat]) => {
    const p = map.project([lon, lat]);
    const [x, y] = [Math.round(p.x * ratio), Math.round(p.y * ratio)];
    const inside = x >= 0 && y >= 0 && x < gl.width && y < gl.height;
    const d = inside ? ctx.getImageData(x - radius, y - radius, side, side).data : new Uint8ClampedArray(4 * side * side);
    const rgbs = Array.from({ length: side * side }, (_, i) => [d[4 * i], d[4 * i + 1], d[4 * i + 2]]);
    return { x, y, pageX: rect.left + p.x, pageY: rect.top + p.y, inside, rgbs };
  });
}, [points, radius]);

// Reads the map's pixels at cell centres: [{key, x, y, rgb}] for every `[key, lon, lat]`.
const pixels = async (page, cells) => (await around(page, cells.map(([, lon, lat]) => [lon, lat]), 0))
  .map((read, i) => ({ key: cells[i][0], ...read, rgb: read.rgbs[0] }));

const same = (a, b) => a.every((v, i) => Math.abs(v - b[i]) <= 2);
const centre = (key) => {
  const [, lon, lat] = key.split('/')[1].split('_');
  return [key, Number(lon), Number(lat)];
};

// 1. One store's coverage.
const first = await open('?year=2024&layer=okavango', STORE);
const page = first.page;
const tiles = Number(await page.getAttribute('#map', 'data-coverage-tiles'));
check(tiles === facts.okavango_2024, `data-coverage-tiles ${tiles} = tessera status okavango 2024 (${facts.okavango_2024})`);
// `ready` means drawn: the map's canvas already shows the store's colour, in the first view.
check(first.coloured > 0, `at data-state=ready the first view already shows ${first.coloured} store-coloured pixels`);
const timings = JSON.parse(await page.getAttribute('#map', 'data-timings'));
console.log(`figure: navigation to coverage drawn ${timings.drawn} ms (bitmaps in at ${timings.fetched} ms, painted at ${timings.painted} ms, handed to the map at ${timings.shown} ms; page clock)`);
const coverageBytes = await page.evaluate(() => performance.getEntriesByType('resource')
  .filter((e) => e.name.includes('/coverage/')).map((e) => [e.name, e.transferSize, e.encodedBodySize]));
console.log(`figure: coverage downloads ${JSON.stringify(coverageBytes)}`);
// An Atlantic cell the registry has no tile for: not coloured, the imagery (if any) shows.
await jump(page, -30.05, 0.05, 7);
const [ocean] = await pixels(page, [centre('2024/grid_-30.05_0.05')]);
check(ocean.inside && !same(ocean.rgb, STORE), `ocean cell 2024_grid_-30.05_0.05 is not coloured ${ocean.rgb}`);
if (facts.imagery) {
  check(same(ocean.rgb, IMAGERY), `the configured imagery shows where there is no coverage ${ocean.rgb}`);
  const attribution = await page.textContent('.maplibregl-ctrl-attrib');
  check(attribution.includes('Test imagery'), `the imagery's attribution is on the map: ${attribution.trim()}`);
}
await jump(page, 0.85, 49.95, 7);
const known = await pixels(page, [centre('2024/grid_0.85_49.95')]);
check(same(known[0].rgb, STORE), `held tile 2024_grid_0.85_49.95 is coloured ${known[0].rgb}`);
await page.screenshot({ path: `${out}/okavango-2024.png` });

// 2. A click opens the item with its store links.
await page.mouse.click(known[0].pageX, known[0].pageY);
await page.waitForSelector('#tile[data-item-id]', { timeout: 10000 });
const itemId = await page.getAttribute('#tile', 'data-item-id');
check(itemId === '2024_grid_0.85_49.95', `clicked tile opens item ${itemId}`);
const links = await page.$$eval('a.store-link', (as) => as.map((a) => [a.dataset.store, a.href]));
const linkStores = new Set(links.map(([s]) => s));
check(['okavango', 's3', 'scaleway'].every((s) => linkStores.has(s)), `store links ${[...linkStores]}`);
check(links.some(([, href]) => href.endsWith('/2024/grid_0.85_49.95/grid_0.85_49.95.npy')), 'an embeddings link points at the tile file');
await page.screenshot({ path: `${out}/tile-panel.png` });
const order = await page.evaluate(() => window.tesseraMap.getStyle().layers.map((l) => l.id).join(','));
const expected = facts.imagery ? 'ocean,land,imagery,coverage,borders,selected' : 'ocean,land,coverage,borders,selected';
check(order === expected, `layers bottom to top: ${order}`);

// The primary's gaps are drawn against the registry (/coverage/registry/okavango/2024).
await page.selectOption('#layer', 'missing-okavango');
await page.waitForSelector('#map[data-state="ready"]');
await idle(page);
const primaryGaps = Number(await page.getAttribute('#map', 'data-coverage-tiles'));
check(primaryGaps === facts.missing_okavango_2024, `missing-okavango, against the registry: ${primaryGaps} tiles = tessera diff registry okavango (${facts.missing_okavango_2024})`);

// 3. Missing from scaleway: exactly the CLI's diff, whole world and in view.
await page.selectOption('#layer', 'missing-scaleway');
await page.waitForSelector('#map[data-state="ready"]');
await idle(page);
const missingTiles = Number(await page.getAttribute('#map', 'data-coverage-tiles'));
check(missingTiles === facts.missing_scaleway_2024.length, `missing-scaleway tiles ${missingTiles} = tessera diff (${facts.missing_scaleway_2024.length})`);
// At the world view a tile is a third of a pixel: every 1-degree block holding a missing tile
// must still show a mark. Read from three centres, each block from the nearest.
const byBlock = new Map();
for (const key of facts.missing_scaleway_2024) {
  const [, lon, lat] = centre(key);
  const block = `${Math.floor(lon)},${Math.floor(lat)}`;
  byBlock.set(block, [...(byBlock.get(block) ?? []), [key, lon, lat]]);
}
const marksAt = async (page, cells) => (await around(page, cells.map(([, lon, lat]) => [lon, lat]), 1)).map((read) => read.rgbs);
// The 1-degree blocks of `byBlock` that show no pixel of any of `colours` near their first
// cell, read at the world view from three centres (each block from the nearest).
const unmarkedBlocks = async (page, colours) => {
  const unmarked = [];
  for (const centreLon of [-120, 0, 120]) {
    const nearest = (lon) => [-120, 0, 120].reduce((a, b) => (Math.abs(((lon - b + 540) % 360) - 180) > Math.abs(((lon - a + 540) % 360) - 180) ? a : b));
    const mine = [...byBlock.entries()].filter(([, cells]) => nearest(cells[0][1]) === centreLon);
    if (mine.length === 0) continue;
    await jump(page, centreLon, 20, 1.5);
    const read = await marksAt(page, mine.map(([, cells]) => cells[0]));
    mine.forEach(([block], i) => { if (!read[i].some((rgb) => colours.some((colour) => same(rgb, colour)))) unmarked.push(block); });
  }
  return unmarked;
};
const unmarked = await unmarkedBlocks(page, [MISSING]);
check(byBlock.size > 0 && unmarked.length === 0, `world view: ${byBlock.size - unmarked.length} of ${byBlock.size} 1-degree blocks with missing tiles show a mark ${JSON.stringify(unmarked.slice(0, 5))}`);
await jump(page, 0, 20, 1.5);
await page.screenshot({ path: `${out}/missing-scaleway-world.png` });
// The largest gaps, listed by block with their counts; a click flies to the first.
const listed = await page.$$eval('#gaps .gap', (buttons) => buttons.map((b) => [Number(b.dataset.west), Number(b.dataset.south), Number(b.dataset.tiles)]));
const largest = Math.max(...[...byBlock.values()].map((cells) => cells.length));
const [gapWest, gapSouth, tilesInGap] = listed[0] ?? [];
check(listed.length > 0 && tilesInGap === largest && byBlock.get(`${gapWest},${gapSouth}`)?.length === largest, `the largest gap listed: ${tilesInGap} tiles at ${gapWest},${gapSouth} = the largest block of tessera diff (${largest})`);
// The gap as a STAC search: the link's search matches what the diff lists.
const stacHref = await page.getAttribute('#gap-stac', 'href');
const searched = stacHref && await page.evaluate(async (href) => (await (await fetch(href)).json()).numberMatched, stacHref);
check(searched === facts.missing_scaleway_2024.length, `the gap's STAC search ${stacHref} matches ${searched} = tessera diff (${facts.missing_scaleway_2024.length})`);
await page.click('#gaps .gap');
await page.waitForFunction(([lon, lat]) => {
  const map = window.tesseraMap;
  const c = map.getCenter();
  return !map.isMoving() && Math.abs(map.getZoom() - 7) < 0.01 && Math.abs(c.lng - lon) < 0.01 && Math.abs(c.lat - lat) < 0.01;
}, [gapWest + 0.5, gapSouth + 0.5], { timeout: 10000 });
await idle(page);
const inGap = await pixels(page, byBlock.get(`${gapWest},${gapSouth}`).map(([key]) => centre(key)));
check(inGap.every((p) => p.inside && same(p.rgb, MISSING)), `after the click, the gap's ${inGap.length} missing tiles are in view, coloured`);
const target = centre(facts.missing_scaleway_2024[Math.floor(facts.missing_scaleway_2024.length / 2)]);
await jump(page, target[1], target[2], 7);
const bounds = await page.evaluate(() => window.tesseraMap.getBounds().toArray());
const [[west, south], [east, north]] = bounds;
const missing = new Set(facts.missing_scaleway_2024);
const inView = [];
for (let lat = Math.ceil(south * 10) / 10 + 0.05; lat < north - 0.05; lat += 0.1) {
  for (let lon = Math.ceil(west * 10) / 10 + 0.05; lon < east - 0.05; lon += 0.1) {
    const fmt = (v) => (Math.round(v * 100) / 100).toFixed(2);
    inView.push(`2024/grid_${fmt(lon)}_${fmt(lat)}`);
  }
}
const probed = await pixels(page, inView.map(centre));
const wrong = probed.filter((p) => p.inside && same(p.rgb, MISSING) !== missing.has(p.key));
const shown = probed.filter((p) => p.inside && same(p.rgb, MISSING)).length;
check(wrong.length === 0 && shown > 0, `in view: ${shown} cells coloured missing, ${wrong.length} disagree with tessera diff ${JSON.stringify(wrong.slice(0, 3))}`);
await page.screenshot({ path: `${out}/missing-scaleway.png` });

// All stores by count at the world view: a tile held by fewer stores than all is marked in
// its count's colour, so the same blocks show among the tiles every store holds.
await page.selectOption('#layer', 'all');
await page.waitForSelector('#map[data-state="ready"]');
const fewer = await unmarkedBlocks(page, [HELD_BY_1, HELD_BY_2]);
check(fewer.length === 0, `all stores, world view: ${byBlock.size - fewer.length} of ${byBlock.size} blocks with tiles scaleway lacks show a held-by-fewer mark ${JSON.stringify(fewer.slice(0, 5))}`);
const shownText = await page.textContent('#status');
const drawnAll = Number(await page.getAttribute('#map', 'data-coverage-tiles'));
check(shownText === `${drawnAll.toLocaleString('en-US')} tiles shown`, `the status line groups thousands: ${shownText}`);
const menu = await page.$$eval('#layer option', (options) => options.map((o) => o.textContent));
check(menu.includes('Missing from scaleway (vs. the primary)') && menu.includes('Missing from okavango (vs. the registry)'), `the layer menu says what gaps are against: ${JSON.stringify(menu)}`);
await page.screenshot({ path: `${out}/all-stores-world.png` });
await page.selectOption('#layer', 'missing-scaleway');
await page.waitForSelector('#map[data-state="ready"]');
await jump(page, target[1], target[2], 7);

// 4. A box drawn with the mouse: the CLI's counts for it, and its copy list.
// Where `[lon, lat]` points are on the page: [{x, y}].
const onPage = (page, points) => page.evaluate((points) => {
  const map = window.tesseraMap;
  const rect = map.getCanvas().getBoundingClientRect();
  return points.map((p) => { const q = map.project(p); return { x: rect.left + q.x, y: rect.top + q.y }; });
}, points);
const dragBox = async (from, to, shift) => {
  const [a, b] = await onPage(page, [from, to]);
  if (shift) await page.keyboard.down('Shift');
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(b.x, b.y, { steps: 8 });
  await page.mouse.up();
  if (shift) await page.keyboard.up('Shift');
};
const boxCounts = (page) => page.$$eval('#bbox-counts li.bbox-store', (lis) => Object.fromEntries(lis.map((li) => [li.dataset.store, Number(li.dataset.tiles)])));
const expectedCounts = (year) => Object.fromEntries(Object.entries(facts.box.stores).map(([store, years]) => [store, years[year]]));
await jump(page, 5, 50, 4);
await page.click('#draw-box');
await dragBox([0, 55], [10, 45], false);
await page.waitForSelector(`#bbox-counts[data-bbox="${facts.box.bbox}"][data-year="2024"]`, { timeout: 10000 });
check(await page.inputValue('#bbox') === facts.box.bbox, `the drawn box snaps to the grid: ${await page.inputValue('#bbox')}`);
check(await page.getAttribute('#draw-box', 'aria-pressed') === 'false', 'drawing stops after one box');
const drawnCounts = await boxCounts(page);
check(JSON.stringify(drawnCounts) === JSON.stringify(expectedCounts('2024')), `box counts ${JSON.stringify(drawnCounts)} = tessera status --bbox ${JSON.stringify(expectedCounts('2024'))}`);
const registryInBox = Number(await page.getAttribute('#bbox-registry', 'data-tiles'));
check(registryInBox === facts.box.registry['2024'], `registry in the box (/search) ${registryInBox} = tessera status --bbox (${facts.box.registry['2024']})`);
const copyHref = await page.getAttribute('#bbox-counts a.copylist[data-store="scaleway"]', 'href');
check(new URL(copyHref, page.url()).href.startsWith(`${base}/copylist/`), `the copy list link stays below the API's root: ${copyHref}`);
const copyKeys = (await (await page.request.get(new URL(copyHref, page.url()).href)).text()).split('\n').filter(Boolean);
check(JSON.stringify(copyKeys) === JSON.stringify(facts.box.missing_scaleway_2024), `the box's copy list for scaleway (${copyKeys.length} keys) = tessera diff --bbox (${facts.box.missing_scaleway_2024.length})`);
// Each store's copy list is in its tool's form: s5cmd for the bucket, rsync between directories.
const tools = await page.$$eval('#bbox-counts a.copylist-tool', (links) => links.map((a) => `${a.closest('li').dataset.store}:${a.dataset.tool}`));
check(tools.join(',') === 's3:s5cmd,scaleway:rsync', `copy tools by storage: ${tools.join(',')}`);
const rsyncHref = await page.getAttribute('#bbox-counts a.copylist-tool[data-tool="rsync"]', 'href');
const rsyncList = (await (await page.request.get(new URL(rsyncHref, page.url()).href)).text()).split('\n').filter(Boolean);
check(JSON.stringify(rsyncList) === JSON.stringify(facts.box.missing_scaleway_2024), `the box's rsync --files-from list for scaleway = tessera diff --bbox`);
check(await page.evaluate(() => !!window.tesseraMap.getLayer('box')), 'the box is outlined on the map');
await page.screenshot({ path: `${out}/box.png` });
// A typed box that is not one is refused, saying why; a good one clears that.
await page.fill('#bbox', '0,45,10');
await page.click('#bbox-form button[type=submit]');
const refusal = await page.textContent('#bbox-error', { timeout: 5000 });
check(refusal.includes('0,45,10') && !(await page.$('#bbox-counts')), `a malformed box is refused, naming it: ${refusal}`);
// Typed, then shift-dragged (without zooming the map, MapLibre's own shift-drag), then recounted for another year.
await page.fill('#bbox', '1,1,2,2');
await page.click('#bbox-form button[type=submit]');
await page.waitForSelector('#bbox-counts[data-bbox="1,1,2,2"]', { timeout: 10000 });
check(!(await page.$('#bbox-error')), 'a good box clears the refusal');
const zoomBefore = await page.evaluate(() => window.tesseraMap.getZoom());
await dragBox([0, 55], [10, 45], true);
await page.waitForSelector(`#bbox-counts[data-bbox="${facts.box.bbox}"]`, { timeout: 10000 });
await idle(page);
check(await page.evaluate(() => window.tesseraMap.getZoom()) === zoomBefore, 'a shift-drag draws a box instead of zooming');
await page.selectOption('#year', '2023');
await page.waitForSelector(`#bbox-counts[data-bbox="${facts.box.bbox}"][data-year="2023"]`, { timeout: 10000 });
check(JSON.stringify(await boxCounts(page)) === JSON.stringify(expectedCounts('2023')), 'the box is counted again for 2023');
await page.selectOption('#year', '2024');
await page.waitForSelector('#map[data-state="ready"]');

// 5. The URL carries the view; opening it again restores it.
const url = new URL(page.url());
check(url.searchParams.get('year') === '2024' && url.searchParams.get('layer') === 'missing-scaleway', `URL ${url.search}`);
check(url.searchParams.get('tile') === '2024_grid_0.85_49.95', 'URL keeps the selected tile');
const again = await open(url.search, MISSING);
check(again.coloured > 0, `at data-state=ready the reopened view already shows ${again.coloured} missing-coloured pixels`);
check(await again.page.getAttribute('#map', 'data-coverage-tiles') === String(missingTiles), 'the same URL draws the same tiles');
check(await again.page.$eval('#layer', (s) => s.value) === 'missing-scaleway', 'the same URL selects the same layer');
await again.page.waitForSelector('#tile[data-item-id="2024_grid_0.85_49.95"]', { timeout: 10000 });
const zoom = await again.page.evaluate(() => window.tesseraMap.getZoom());
check(Math.abs(zoom - Number(url.searchParams.get('z'))) < 0.01, `the same URL restores zoom ${zoom}`);
await again.page.screenshot({ path: `${out}/round-trip.png` });

// 6. Figures: frame time while panning (on the page in front: background pages are throttled).
const frames = await again.page.evaluate(() => new Promise((resolve) => {
  const map = window.tesseraMap;
  const times = [];
  let last = performance.now();
  const tick = (now) => { times.push(now - last); last = now; if (times.length < 60) requestAnimationFrame(tick); else resolve(times); };
  requestAnimationFrame(tick);
  map.panBy([400, 0], { duration: 1000 });
}));
frames.sort((a, b) => a - b);
console.log(`figure: frame time while panning: median ${frames[30].toFixed(1)} ms, p95 ${frames[56].toFixed(1)} ms`);

// 7. On a phone: the panel under the map, the box tools driven by the keyboard, a box drawn by touch.
const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
await offline(phone);
const mobile = await phone.newPage();
const mobileErrors = [];
mobile.on('console', (m) => m.type() === 'error' && mobileErrors.push(m.text()));
await mobile.goto(`${base}/map/?year=2024&layer=okavango&z=3.5&lon=5&lat=50`);
await mobile.waitForSelector('#map[data-state="ready"]', { timeout: 30000 });
const [mapBox, panelBox] = [await mobile.locator('#map').boundingBox(), await mobile.locator('#panel').boundingBox()];
check(panelBox.y >= mapBox.y + mapBox.height - 1 && mapBox.width === 390, `phone: the panel is under a full-width map (${JSON.stringify(mapBox)})`);
const pressed = () => mobile.getAttribute('#draw-box', 'aria-pressed');
await mobile.focus('#draw-box');
await mobile.keyboard.press('Enter');
const afterEnter = await pressed();
await mobile.keyboard.press('Escape');
const afterEscape = await pressed();
await mobile.keyboard.press('Space');
check(afterEnter === 'true' && afterEscape === 'false' && await pressed() === 'true', 'keyboard: Enter and Space turn drawing on, Escape off');
const corners = await onPage(mobile, [[0, 55], [10, 45]]);
const touch = await phone.newCDPSession(mobile);
await touch.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [corners[0]] });
for (let step = 1; step <= 8; step++) {
  const at = { x: corners[0].x + ((corners[1].x - corners[0].x) * step) / 8, y: corners[0].y + ((corners[1].y - corners[0].y) * step) / 8 };
  await touch.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [at] });
}
await touch.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
await mobile.waitForSelector(`#bbox-counts[data-bbox="${facts.box.bbox}"]`, { timeout: 10000 });
check(JSON.stringify(await boxCounts(mobile)) === JSON.stringify(expectedCounts('2024')), 'touch: a box drawn with a finger gets the same counts');
await mobile.screenshot({ path: `${out}/phone.png` });
// With drawing off again, the same finger drag pans the map and leaves the box alone.
const centreOf = () => mobile.evaluate(() => window.tesseraMap.getCenter().toArray());
const before = await centreOf();
await touch.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [corners[0]] });
for (let step = 1; step <= 8; step++) {
  await touch.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x: corners[0].x + 10 * step, y: corners[0].y }] });
}
await touch.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
const settled = () => mobile.waitForFunction(() => !window.tesseraMap.isMoving(), null, { timeout: 10000 });
await mobile.waitForTimeout(100);
await settled();
const after = await centreOf();
check(after[0] < before[0] - 1 && await mobile.getAttribute('#bbox-counts', 'data-bbox') === facts.box.bbox, `touch: a drag pans the map west (centre ${before[0].toFixed(2)} -> ${after[0].toFixed(2)}) when not drawing`);
// The map itself takes the keyboard: arrow keys pan, + zooms.
await mobile.focus('.maplibregl-canvas');
const zoomBeforeKeys = await mobile.evaluate(() => window.tesseraMap.getZoom());
await mobile.keyboard.press('ArrowRight');
await mobile.waitForTimeout(100);
await settled();
const afterKeys = await centreOf();
await mobile.keyboard.press('Equal');
await mobile.waitForTimeout(100);
await settled();
const zoomAfterKeys = await mobile.evaluate(() => window.tesseraMap.getZoom());
check(afterKeys[0] > after[0] && zoomAfterKeys > zoomBeforeKeys, `keyboard: ArrowRight pans east (${after[0].toFixed(2)} -> ${afterKeys[0].toFixed(2)}), + zooms in (${zoomBeforeKeys.toFixed(2)} -> ${zoomAfterKeys.toFixed(2)})`);

// 8. The world under the coverage: the offline basemap's land and sea where they are, at the
// world view, zoom 4 and zoom 7, across the antimeridian and at the poles. Each zoom is judged
// from one settled frame of a large window: the named places in it, and a lattice of grid cells
// read from the land mask the basemap was rasterised into (fixtures/data/land-0.1deg.bin, the
// same Natural Earth land), each cell taken only where the mask is all land or all sea for a
// margin around it (the coastline is simplified at low zooms). Coverage, imagery and borders are
// hidden so the fill itself is read; a point is right when 5 of the 9 pixels around it are.
const LAND = [58, 74, 63];
const SEA = [14, 42, 71];
const LAND_POINTS = {
  Sahara: [3, 27], Chad: [20.5, 19.5], Paris: [2.35, 48.85], Moscow: [37.6, 55.75], Beijing: [116.4, 39.9],
  'Chukotka (west of 180)': [172, 66], 'Chukotka (east of 180)': [-173, 65.8], Fiji: [178, -17.8],
  'Wrangel Island': [-179.8, 71.25], Antarctica: [0, -80], 'Cape Town': [22, -30], Manaus: [-60, -3.1],
  Sydney: [147, -32], Brasilia: [-47.9, -15.8], Nairobi: [36.8, -1.3], Delhi: [77.2, 28.6], Denver: [-105, 39.7],
  Greenland: [-40, 75], Madagascar: [46.9, -19], Kazakhstan: [67, 48], Mongolia: [103, 46.8], Argentina: [-65, -35],
  Canada: [-100, 55], Siberia: [100, 65], Mali: [-2, 17], Congo: [23, -2],
};
const SEA_POINTS = {
  'mid-Atlantic': [-35, 30], 'Gulf of Guinea': [2, 2], 'Caspian Sea': [50.5, 42], 'Indian Ocean': [75, -20],
  'Pacific at the equator': [-150, 0], 'South Atlantic': [-20, -40], 'North Pacific': [170, 40],
  Mediterranean: [18, 34], 'Bay of Bengal': [88, 15], 'Southern Ocean': [120, -55], 'Tasman Sea': [160, -38],
  'Bering Sea': [-175, 58],
};
// One frame a zoom: the whole world; the antimeridian from Chukotka to Alaska; Wrangel Island,
// which the antimeridian cuts in two. `step` is the lattice's spacing and `margin` the cells
// around a sample that must agree, both in 0.1-degree cells.
const FRAMES = [
  { zoom: 1.5, centre: [0, 0], step: 30, margin: 10, everyPlace: true },
  { zoom: 4, centre: [180, 66], step: 5, margin: 2 },
  { zoom: 7, centre: [180, 71.2], step: 1, margin: 2 },
];
const landMask = (() => {
  const bytes = readFileSync(new URL('../../fixtures/data/land-0.1deg.bin', import.meta.url));
  if (bytes.subarray(0, 8).toString() !== 'TSLAND01') throw new Error('not a land mask');
  const land = new Uint8Array(3600 * 1800);
  for (let at = 8; at + 6 <= bytes.length; at += 6) {
    const [row, first, last] = [bytes.readUInt16LE(at), bytes.readUInt16LE(at + 2), bytes.readUInt16LE(at + 4)];
    land.fill(1, row * 3600 + first, row * 3600 + last + 1);
  }
  return land;
})();
// 1 for land, 0 for sea, or -1 where the cells within `margin` of (row, col) disagree.
const maskAround = (row, col, margin) => {
  if (row - margin < 0 || row + margin >= 1800) return -1;
  const first = landMask[row * 3600 + col];
  for (let r = row - margin; r <= row + margin; r++) {
    for (let c = col - margin; c <= col + margin; c++) {
      if (landMask[r * 3600 + ((c + 3600) % 3600)] !== first) return -1;
    }
  }
  return first;
};
// The lattice's cells that the mask says are plainly land or sea: [name, lon, lat, isLand].
const latticeOf = (bounds, { step, margin }) => {
  const [[west, south], [east, north]] = bounds;
  const cells = [];
  for (let row = Math.max(0, Math.ceil((south + 90) * 10)); row < Math.min(1800, (north + 90) * 10); row += step) {
    for (let lon10 = Math.ceil(west * 10); lon10 < east * 10; lon10 += step) {
      const col = (((Math.floor(lon10) + 1800) % 3600) + 3600) % 3600;
      const kind = maskAround(row, col, margin);
      const [lon, lat] = [-180 + (col + 0.5) / 10, -90 + (row + 0.5) / 10];
      if (kind >= 0) cells.push([`cell ${row},${col}`, lon, lat, kind === 1]);
    }
  }
  return cells;
};
// Judges `points` ([name, lon, lat, isLand]) on one frame of the map: one read of the canvas.
const judgeFrame = (page, points) => page.evaluate(([points, land, sea]) => {
  const map = window.tesseraMap;
  const gl = map.getCanvas();
  const copy = document.createElement('canvas');
  copy.width = gl.width; copy.height = gl.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(gl, 0, 0);
  const data = ctx.getImageData(0, 0, gl.width, gl.height).data;
  const ratio = gl.width / gl.clientWidth;
  const near = (i, rgb) => Math.abs(data[i] - rgb[0]) <= 2 && Math.abs(data[i + 1] - rgb[1]) <= 2 && Math.abs(data[i + 2] - rgb[2]) <= 2;
  const centre = map.getCenter().lng;
  return points.map(([name, lon, lat, isLand]) => {
    // The copy of the point on the centre's side of the antimeridian: project() does not wrap.
    const p = map.project([lon + 360 * Math.round((centre - lon) / 360), lat]);
    const [x, y] = [Math.round(p.x * ratio), Math.round(p.y * ratio)];
    if (x < 1 || y < 1 || x >= gl.width - 1 || y >= gl.height - 1) return { name, inside: false };
    let right = 0;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) right += near(4 * ((y + dy) * gl.width + x + dx), isLand ? land : sea);
    }
    const i = 4 * (y * gl.width + x);
    return { name, inside: true, ok: right >= 5, rgb: [data[i], data[i + 1], data[i + 2]] };
  });
}, [points, LAND, SEA]);
const named = [
  ...Object.entries(LAND_POINTS).map(([name, [lon, lat]]) => [name, lon, lat, true]),
  ...Object.entries(SEA_POINTS).map(([name, [lon, lat]]) => [name, lon, lat, false]),
];
const large = await browser.newContext({ viewport: { width: 2000, height: 1300 } });
await offline(large);
const worldPage = await large.newPage();
const worldErrors = [];
worldPage.on('console', (m) => m.type() === 'error' && worldErrors.push(m.text()));
const [firstFrame] = FRAMES;
await worldPage.goto(`${base}/map/?year=2024&layer=okavango&z=${firstFrame.zoom}&lon=${firstFrame.centre[0]}&lat=${firstFrame.centre[1]}`);
await worldPage.waitForSelector('#map[data-state="ready"]', { timeout: 30000 });
await worldPage.waitForFunction(() => window.tesseraMap.getLayer('land') && window.tesseraMap.isSourceLoaded('land'), null, { timeout: 30000 });
// The fill alone: the coverage layer is added again when a zoom repaints it, so hidden after every move.
const bare = async (page) => {
  await page.evaluate(() => {
    for (const id of ['coverage', 'imagery', 'borders']) if (window.tesseraMap.getLayer(id)) window.tesseraMap.setLayoutProperty(id, 'visibility', 'none');
  });
  await idle(page);
};
for (const frame of FRAMES) {
  const started = performance.now();
  await jump(worldPage, frame.centre[0], frame.centre[1], frame.zoom);
  await bare(worldPage);
  const bounds = await worldPage.evaluate(() => window.tesseraMap.getBounds().toArray());
  const lattice = latticeOf(bounds, frame);
  const judged = await judgeFrame(worldPage, [...named, ...lattice]);
  const inFrame = judged.filter((j) => j.inside);
  const places = inFrame.filter((j) => !j.name.startsWith('cell '));
  const wrong = inFrame.filter((j) => !j.ok);
  await worldPage.screenshot({ path: `${out}/basemap-z${frame.zoom}.png` });
  const took = ((performance.now() - started) / 1000).toFixed(1);
  const placesInView = frame.everyPlace ? places.length === named.length : places.length > 0;
  if (!placesInView) console.log(`  named places outside the frame: ${judged.filter((j) => !j.inside && !j.name.startsWith('cell ')).map((j) => j.name)}`);
  check(wrong.length === 0 && placesInView && inFrame.length >= 100,
    `basemap at zoom ${frame.zoom} around ${frame.centre}: ${inFrame.length - wrong.length} of ${inFrame.length} points the right colour (${places.length} named places, ${inFrame.length - places.length} mask cells; one frame, ${took} s) ${JSON.stringify(wrong.slice(0, 5).map((j) => `${j.name} ${j.rgb}`))}`);
}
check(worldErrors.length === 0, `world page: no console errors ${JSON.stringify(worldErrors.slice(0, 3))}`);

for (const [name, errors] of [['first page', first.errors], ['reopened page', again.errors], ['phone page', mobileErrors]]) {
  check(errors.length === 0, `${name}: no console errors ${JSON.stringify(errors.slice(0, 3))}`);
}
await browser.close();
if (failures) {
  console.error(`${failures} browser check(s) failed`);
  process.exit(1);
}
console.log('browser: all checks passed');
