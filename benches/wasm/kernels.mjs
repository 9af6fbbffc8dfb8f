// Opens benches/wasm/kernels.html in headless Chromium and prints its result (one JSON line).
// Usage: node kernels.mjs URL
import { launch } from '../../web/tests/chromium.mjs';

const browser = await launch();
try {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  page.on('console', (message) => console.error(`page: ${message.text()}`));
  await page.goto(process.argv[2]);
  await page.waitForSelector('body[data-result]', { state: 'attached', timeout: 120000 });
  console.log(await page.getAttribute('body', 'data-result'));
} finally {
  await browser.close();
}
