// layout.test.js BASE_URL OUT_DIR - the theme in a real browser.
// For key pages at desktop and phone widths: no horizontal overflow,
// landmarks, one h1, lang, alt text, readable body font size, works with
// JavaScript off, print hides navigation. Saves a screenshot of each page
// and width to OUT_DIR. Prints PASS/FAIL lines.
'use strict';
const { launch } = require('./chrome');

const PAGES = [
  ['home', '/'],
  ['notice', '/notices/2017/dalian-ten-measures-division-of-labour/'],
  ['report', '/reports/2020/qinhuangdao-micro-enterprise-fund-refund/'],
  ['notices-list', '/notices/'],
  ['tags', '/tags/'],
  ['refunds', '/stats/refunds/'],
  ['district', '/districts/qinhuangdao/'],
  ['search', '/search/'],
];
const WIDTHS = [1280, 390];

let failed = 0;
function check(name, cond, why) {
  if (cond) console.log('PASS layout:' + name);
  else { failed++; console.log('FAIL layout:' + name + (why ? ': ' + why : '')); }
}

async function main() {
  const [base, outDir] = process.argv.slice(2);
  const browser = await launch();
  try {
    for (const width of WIDTHS) {
      const ctx = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await ctx.newPage();
      for (const [name, path] of PAGES) {
        const id = `${name}@${width}`;
        const resp = await page.goto(base + path, { waitUntil: 'load' });
        check(id + ':loads', resp && resp.status() === 200, resp && 'HTTP ' + resp.status());
        const m = await page.evaluate(() => ({
          overflow: document.documentElement.scrollWidth - window.innerWidth,
          lang: document.documentElement.lang,
          h1: document.querySelectorAll('h1').length,
          main: !!document.querySelector('main'),
          nav: !!document.querySelector('nav'),
          header: !!document.querySelector('header'),
          footer: !!document.querySelector('footer'),
          noAlt: [...document.querySelectorAll('img')].filter((i) => !i.hasAttribute('alt')).length,
          svgNoTitle: [...document.querySelectorAll('svg[role=img]')].filter((s) => !s.querySelector('title')).length,
          fontPx: parseFloat(getComputedStyle(document.body).fontSize),
          text: document.body.innerText.length,
        }));
        check(id + ':no-horizontal-overflow', m.overflow <= 1, `overflows by ${m.overflow}px`);
        check(id + ':lang', m.lang === 'zh-CN', m.lang);
        check(id + ':one-h1', m.h1 === 1, `${m.h1} h1 elements`);
        check(id + ':landmarks', m.main && m.nav && m.header && m.footer);
        check(id + ':alt-text', m.noAlt === 0 && m.svgNoTitle === 0, `${m.noAlt} img without alt, ${m.svgNoTitle} svg without title`);
        check(id + ':font-size', m.fontPx >= 15, m.fontPx + 'px');
        // WCAG AA contrast (4.5:1) of text against its effective background.
        const low = await page.evaluate(() => {
          const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
          const lum = ([r, g, b]) => {
            const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
          };
          const bg = (el) => {
            for (; el; el = el.parentElement) {
              const c = rgb(getComputedStyle(el).backgroundColor);
              if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
            }
            return [255, 255, 255];
          };
          const bad = [];
          const seen = new Set();
          for (const el of document.querySelectorAll('p, li, a, h1, h2, dt, dd, td, th, span, time, label')) {
            if (!el.textContent.trim() || el.offsetParent === null) continue;
            const fg = rgb(getComputedStyle(el).color).slice(0, 3);
            const b = bg(el);
            const [l1, l2] = [lum(fg), lum(b)].sort((x, y) => y - x);
            const ratio = (l1 + 0.05) / (l2 + 0.05);
            const key = fg.join() + '/' + b.join();
            if (ratio < 4.5 && !seen.has(key)) { seen.add(key); bad.push(`${el.tagName}.${el.className} ${key} ${ratio.toFixed(2)}`); }
          }
          return bad;
        });
        check(id + ':contrast', low.length === 0, low.slice(0, 3).join('; '));
        await page.screenshot({ path: `${outDir}/${name}-${width}.png`, fullPage: width !== 1280 || name === 'home' });
      }
      await ctx.close();
    }
    // Without JavaScript every page still shows its content.
    const nojs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
    const p = await nojs.newPage();
    await p.goto(base + '/notices/2017/dalian-ten-measures-division-of-labour/');
    check('nojs:notice-text', (await p.evaluate(() => document.body.innerText)).includes('大工办发〔2017〕28号'));
    await p.goto(base + '/search/');
    check('nojs:search-form', await p.evaluate(() => !!document.querySelector('form[action] input[name=q]')));
    // Print: navigation hidden, the document body kept.
    await p.goto(base + '/notices/2017/dalian-ten-measures-division-of-labour/');
    await p.emulateMedia({ media: 'print' });
    const pr = await p.evaluate(() => ({
      nav: getComputedStyle(document.querySelector('.masthead')).display,
      body: getComputedStyle(document.querySelector('.doc-body')).display,
    }));
    check('print:nav-hidden', pr.nav === 'none', pr.nav);
    check('print:body-shown', pr.body !== 'none');
    await nojs.close();
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.log('FAIL layout:run: ' + e.message); process.exit(1); });
