// shoot.js URL OUT.png [WIDTH] - full-page screenshot of URL in headless
// Chromium (default width 1280; height follows the page). Exits non-zero,
// with the reason on stderr, when the page cannot be loaded (HTTP >= 400
// counts as failure) or the screenshot cannot be written.
'use strict';
const { launch } = require('./chrome');

async function main() {
  const [url, out, widthArg] = process.argv.slice(2);
  if (!url || !out) {
    console.error('usage: node shoot.js URL OUT.png [WIDTH]');
    process.exit(2);
  }
  const width = parseInt(widthArg || '1280', 10);
  if (!(width > 0 && width <= 8000)) {
    console.error('shoot.js: bad width ' + widthArg);
    process.exit(2);
  }
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width, height: 800 } });
    const resp = await page.goto(url, { waitUntil: 'load', timeout: 20000 });
    if (resp && resp.status() >= 400) throw new Error(url + ': HTTP ' + resp.status());
    await page.evaluate(() => document.fonts && document.fonts.ready);
    await page.screenshot({ path: out, fullPage: true, timeout: 20000 });
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error('shoot.js: ' + e.message); process.exit(1); });
