// search.test.js BASE_URL [SUB_URL] - the /search/ page in headless Chromium against a
// built and served site (BASE_URL is the site root, ending in /). Prints
// "PASS browser:NAME" / "FAIL browser:NAME: why" lines (tests/run.sh counts
// them). Expects the repository's content/ (five real documents). SUB_URL,
// when given, is the same site served under a sub-path (e.g. .../gazette/):
// the search data and result links must resolve there too.
'use strict';
const { launch } = require('./chrome');

const base = process.argv[2];
const subBase = process.argv[3];   // optional: the same site under a sub-path
if (!base) {
  console.error('usage: node search.test.js BASE_URL');
  process.exit(2);
}
let failed = 0;
function pass(name) { console.log('PASS browser:' + name); }
function fail(name, why) { failed++; console.log('FAIL browser:' + name + ': ' + why); }
async function check(name, fn) {
  try {
    const why = await fn();
    if (why) fail(name, why); else pass(name);
  } catch (e) {
    fail(name, (e && e.message ? e.message : String(e)).split('\n')[0]);
  }
}

// Wait until the search page has finished its latest search and stayed
// idle for a moment (typing also schedules a search after 250 ms).
async function settled(page) {
  await page.waitForFunction(() => {
    const b = document.getElementById('gz-search');
    return b && b.hasAttribute('data-done') && !b.hasAttribute('aria-busy');
  }, null, { timeout: 10000 });
  await page.waitForTimeout(400);
  await page.waitForFunction(() => !document.getElementById('gz-search').hasAttribute('aria-busy'),
    null, { timeout: 10000 });
}

async function rawResults(page) {
  return page.$$eval('#gz-results > li', (lis) => lis.map((li) => {
    const a = li.querySelector('h3 a');
    return { title: a ? a.textContent : '', href: a ? a.getAttribute('href') : '',
             meta: (li.querySelector('.search-meta') || {}).textContent || '',
             marks: li.querySelectorAll('mark').length };
  }));
}

// Type q into the search box like a person and press Enter.
async function typeSearch(page, q) {
  await page.goto(base + 'search/', { waitUntil: 'load', timeout: 15000 });
  await page.click('#gz-q');
  await page.keyboard.type(q, { delay: 10 });
  await page.keyboard.press('Enter');
  await settled(page);
  return results(page);
}

async function results(page) {
  lastStatus = await page.textContent('#gz-status');
  return rawResults(page);
}

let lastStatus = '';
function first(rs, want, label) {
  if (!rs.length) return label + ': no results (' + lastStatus + ')';
  if (!rs[0].href.includes(want))
    return label + ': first result is ' + rs[0].href + ' (' + rs[0].title + '), want ' + want;
  return '';
}

async function main() {
  const t0 = Date.now();
  const browser = await launch();
  const errors = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
    // failed loads are reported with their URL below; the browser's own
    // favicon probe does not count
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
        errors.push('console: ' + m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico'))
        errors.push('HTTP ' + r.status() + ' ' + r.url());
    });

    await check('search-refund', async () => {
      const rs = await typeSearch(page, '返还');
      const why = first(rs, 'micro-enterprise-fund-refund', '返还');
      if (why) return why;
      if (!rs.some((r) => r.href.includes('dalian-ten-measures'))) return '返还: the 2017 Dalian notice is missing';
      if (!rs[0].marks) return '返还: no <mark> highlight in the first result';
      return '';
    });
    await check('query-in-url', async () => {
      const u = new URL(page.url());
      return u.searchParams.get('q') === '返还' ? '' : 'URL is ' + page.url();
    });
    await check('search-docnum-exact', async () => {
      const rs = await typeSearch(page, '大工办发〔2017〕28号');
      return first(rs, 'dalian-ten-measures', '大工办发〔2017〕28号');
    });
    await check('search-docnum-partial', async () => {
      const rs = await typeSearch(page, '大工办发〔2017〕');
      return first(rs, 'dalian-ten-measures', '大工办发〔2017〕');
    });
    await check('search-small-business', async () => {
      const rs = await typeSearch(page, '小微企业');
      const why = first(rs, 'micro-enterprise-fund-refund', '小微企业');
      if (why) return why;
      return rs.length >= 2 ? '' : '小微企业: want at least 2 results, got ' + rs.length;
    });
    await check('url-query-and-kind-filter', async () => {
      await page.goto(base + 'search/?q=' + encodeURIComponent('返还') + '&kind=report',
        { waitUntil: 'load', timeout: 15000 });
      await settled(page);
      const rs = await results(page);
      const q = await page.inputValue('#gz-q'), kind = await page.inputValue('#gz-kind');
      if (q !== '返还' || kind !== 'report') return 'form not filled from URL: ' + q + ' / ' + kind;
      if (!rs.length) return 'no results (' + lastStatus + ')';
      const bad = rs.filter((r) => !r.href.includes('/reports/'));
      return bad.length ? 'kind=report shows ' + bad[0].href : '';
    });
    await check('year-filter', async () => {
      await page.goto(base + 'search/?q=' + encodeURIComponent('返还') + '&year=2017',
        { waitUntil: 'load', timeout: 15000 });
      await settled(page);
      const rs = await results(page);
      if (!rs.length) return 'no results (' + lastStatus + ')';
      const bad = rs.filter((r) => !r.meta.includes('2017-'));
      return bad.length ? 'year=2017 shows ' + bad[0].href + ' ' + bad[0].meta : '';
    });
    await check('district-filter', async () => {
      await page.goto(base + 'search/', { waitUntil: 'load', timeout: 15000 });
      const opts = await page.$$eval('#gz-district option', (os) =>
        os.filter((o) => o.value).map((o) => [o.value, o.textContent]));
      if (!opts.length) return 'no district options';
      // the district on most documents: pick each until one has results
      for (const [id, name] of opts) {
        await page.selectOption('#gz-district', id);
        await settled(page);
        const rs = await results(page);
        if (!new URL(page.url()).searchParams.get('district')) return 'district not kept in the URL';
        if (!rs.length) continue;
        const bad = rs.filter((r) => !r.meta.includes(name) && !r.meta.includes('个地区'));
        return bad.length ? name + ' shows ' + bad[0].href + ' ' + bad[0].meta : '';
      }
      return 'no district option gave results';
    });
    await check('no-results-message', async () => {
      const rs = await typeSearch(page, '不存在的词语组合');
      const st = await page.textContent('#gz-status');
      return rs.length === 0 && st.includes('没有找到') ? '' : rs.length + ' results, status ' + st;
    });
    await check('markup-in-query-is-text', async () => {
      await typeSearch(page, '<img src=x onerror=window.__x=1>');
      const imgs = await page.$$eval('#gz-search img', (l) => l.length);
      const x = await page.evaluate(() => window.__x);
      return imgs === 0 && x === undefined ? '' : 'query became markup';
    });
    await check('links-resolve', async () => {
      const rs = await typeSearch(page, '返还');
      const resp = await page.goto(rs[0].href, { waitUntil: 'load', timeout: 15000 });
      return resp && resp.status() === 200 ? '' : rs[0].href + ' answered ' + (resp && resp.status());
    });
    await check('no-script-errors', async () => (errors.length ? errors.join('; ') : ''));

    if (subBase) {
      await check('subpath-base', async () => {
        const p = await browser.newPage();
        try {
          await p.goto(subBase + 'search/?q=' + encodeURIComponent('返还'), { waitUntil: 'load', timeout: 15000 });
          await settled(p);
          const rs = await rawResults(p);
          const why = first(rs, 'micro-enterprise-fund-refund', 'under ' + subBase);
          if (why) return why;
          if (!rs[0].href.startsWith(subBase)) return 'link ' + rs[0].href + ' is not under ' + subBase;
          const resp = await p.goto(rs[0].href, { waitUntil: 'load', timeout: 15000 });
          return resp && resp.status() === 200 ? '' : rs[0].href + ' answered ' + (resp && resp.status());
        } finally {
          await p.close();
        }
      });
    }

    // Without JavaScript: a plain GET form and links to the archives.
    await check('nojs-fallback', async () => {
      const ctx = await browser.newContext({ javaScriptEnabled: false });
      try {
        const p = await ctx.newPage();
        await p.goto(base + 'search/', { waitUntil: 'load', timeout: 15000 });
        const f = await p.$$eval('form', (fs) => fs.map((x) => ({
          method: (x.getAttribute('method') || '').toLowerCase(),
          action: x.getAttribute('action'),
          q: !!x.querySelector('input[name=q]'),
          submit: !!x.querySelector('button[type=submit], input[type=submit]') })));
        const ok = f.some((x) => x.method === 'get' && x.q && x.submit);
        if (!ok) return 'no GET form with q and a submit button: ' + JSON.stringify(f);
        const links = await p.$$eval('a', (as) => as.map((a) => a.href));
        if (!links.some((h) => /\/notices\/$/.test(h)) || !links.some((h) => /\/reports\/$/.test(h)))
          return 'no links to /notices/ and /reports/';
        const noscript = await p.$$eval('noscript', (n) => n.length);
        return noscript ? '' : 'no <noscript> hint';
      } finally {
        await ctx.close();
      }
    });
  } finally {
    await browser.close();
  }
  console.log('# browser tests took ' + ((Date.now() - t0) / 1000).toFixed(1) + ' s');
  process.exit(failed ? 1 : 0);
}

// never hang the suite: give up after 55 s
setTimeout(() => { fail('timeout', 'browser tests took over 55 s'); process.exit(1); }, 55000).unref();
main().catch((e) => { fail('launch', e.message.split('\n')[0]); process.exit(1); });
