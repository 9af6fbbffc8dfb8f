// Debian's chromium, headless, as every browser script here drives it (the map check, the STAC
// Browser check, the map bench). WebGL comes from SwiftShader: there is no GPU.
import { createRequire } from 'node:module';

// playwright-core is the web app's dev dependency (web/package.json), found from any caller.
const { chromium } = createRequire(new URL('../package.json', import.meta.url))('playwright-core');

export const launch = () => chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--enable-unsafe-swiftshader', '--disable-gpu'],
});
