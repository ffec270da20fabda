// measure.js BASE_URL QUERY... - how many bytes the search page fetches for
// each query (a fresh browser context each, so nothing is cached). Prints
// one line per query: total bytes of search data (meta, index shards,
// result metadata), the number of those requests, the page + script bytes,
// and the result count. Used to check the "under 300 KB for a typical query
// on a 10,000-document site" budget (see generator/search.h).
'use strict';
const { launch } = require('./chrome');

async function measure(browser, base, q) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  let data = 0, n = 0, page_bytes = 0;
  const pending = [];
  page.on('response', (r) => {
    pending.push(r.body().then((b) => {
      if (/\/search\/(meta\.json|idx\/|docs\/)/.test(r.url())) { data += b.length; n++; }
      else page_bytes += b.length;
    }, () => {}));
  });
  await page.goto(base + 'search/?q=' + encodeURIComponent(q), { waitUntil: 'load', timeout: 30000 });
  await page.waitForFunction(() => {
    const b = document.getElementById('gz-search');
    return b && b.hasAttribute('data-done') && !b.hasAttribute('aria-busy');
  }, null, { timeout: 30000 });
  await Promise.all(pending);
  const status = await page.textContent('#gz-status');
  await ctx.close();
  return { data, n, page_bytes, status };
}

async function main() {
  const [base, ...queries] = process.argv.slice(2);
  if (!base || !queries.length) {
    console.error('usage: node measure.js BASE_URL QUERY...');
    process.exit(2);
  }
  const browser = await launch();
  try {
    for (const q of queries) {
      const m = await measure(browser, base, q);
      console.log(`${q}\t${(m.data / 1024).toFixed(1)} KB search data in ${m.n} requests` +
                  ` (+${(m.page_bytes / 1024).toFixed(1)} KB page, script, css)\t${m.status}`);
    }
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error('measure.js: ' + e.message); process.exit(1); });
