#!/usr/bin/env bash
# The README's screenshots of the map, made again from the full demo: the world with all
# stores by count, and the gaps of one mirror (scaleway) with its largest gaps listed.
# Headless Chromium at 1280x800; writes docs/screenshots/*.png.
#   scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p tessera-cli
[ -f target/web/index.html ] || scripts/build-web.sh
demo=target/screenshot-demo
[ -f "$demo/tessera.toml" ] || target/release/tessera init --demo "$demo" > /dev/null 2>&1
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/release/tessera --inventory "$demo" serve --listen "127.0.0.1:$port" --web target/web > target/screenshots.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$port/healthz" > /dev/null; do sleep 0.1; done
mkdir -p docs/screenshots
node --input-type=module - "http://127.0.0.1:$port" docs/screenshots <<'JS'
import { launch } from './web/tests/chromium.mjs';
const [base, out] = process.argv.slice(2);
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const shots = [
  ['world-by-count.png', '/map/?year=2024&layer=all&z=1.35&lon=15&lat=15'],
  ['gaps-of-scaleway.png', '/map/?year=2024&layer=missing-scaleway&z=1.35&lon=15&lat=15'],
];
for (const [file, path] of shots) {
  await page.goto(`${base}${path}`);
  await page.waitForSelector('#map[data-state="ready"]', { timeout: 60000 });
  await page.waitForFunction(() => window.tesseraMap.getLayer('land') && window.tesseraMap.loaded() && !window.tesseraMap.isMoving(), null, { timeout: 60000 });
  await page.evaluate(() => new Promise((resolve) => { window.tesseraMap.once('idle', resolve); window.tesseraMap.triggerRepaint(); }));
  await page.screenshot({ path: `${out}/${file}` });
  console.log(`${out}/${file}`);
}
await browser.close();
JS
