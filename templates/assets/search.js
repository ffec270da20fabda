/* search.js - client side of /search/ (index format: generator/search.h).
 * No dependencies. Fetches search/meta.json, then only the index shards
 * holding the query's tokens and the metadata of the results shown. All
 * data goes into the page as text nodes (textContent), never as HTML. */
(function () {
  'use strict';
  var box = document.getElementById('gz-search');
  if (!box || !window.fetch || !window.URL) return;
  var form = box.querySelector('form');
  var statusEl = document.getElementById('gz-status');
  var list = document.getElementById('gz-results');
  var more = document.getElementById('gz-more');
  /* the index and the site root, relative to this page: works under any
   * base path */
  var base = new URL(box.getAttribute('data-index') || './', location.href);
  var root = new URL(box.getAttribute('data-root') || '../', location.href);
  var PAGE = 10;
  var B64 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_';
  var B64V = {};
  for (var i = 0; i < 64; i++) B64V[B64.charAt(i)] = i;
  var KIND = { notice: '通知公告', report: '工作报告' };
  /* field bits (SEARCH_F_* in search.h) and how much each counts */
  var F_TITLE = 1, F_DOCNUM = 2;
  var WEIGHT = [[1, 50], [2, 60], [4, 8], [8, 15], [16, 5], [32, 5], [64, 5]];

  var cache = {};
  function getJSON(rel) {
    if (!cache[rel]) {
      cache[rel] = fetch(new URL(rel, base).href).then(function (r) {
        if (!r.ok) throw new Error(rel + ': HTTP ' + r.status);
        return r.json();
      });
      cache[rel].catch(function () { delete cache[rel]; });
    }
    return cache[rel];
  }

  /* ---- tokens: the same rules as search.c (charClass = char_class) ---- */
  var SEP = 0, CJK = 1, WORD = 2;
  function charClass(cp) {
    if (cp < 0x80) {
      if ((cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122) || (cp >= 48 && cp <= 57)) return WORD;
      return SEP;
    }
    if ((cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0xFF21 && cp <= 0xFF3A) ||
        (cp >= 0xFF41 && cp <= 0xFF5A)) return WORD;
    if ((cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
        (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x3040 && cp <= 0x30FF) ||
        (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x20000 && cp <= 0x2FFFF) ||
        cp === 0x3005 || cp === 0x3007) return CJK;
    if ((cp >= 0xC0 && cp <= 0x24F && cp !== 0xD7 && cp !== 0xF7) ||
        (cp >= 0x370 && cp <= 0x4FF)) return WORD;
    return SEP;
  }
  function fold(cp) {
    if (cp >= 65 && cp <= 90) return cp + 32;
    if (cp >= 0xFF10 && cp <= 0xFF19) return cp - 0xFF10 + 48;
    if (cp >= 0xFF21 && cp <= 0xFF3A) return cp - 0xFF21 + 97;
    if (cp >= 0xFF41 && cp <= 0xFF5A) return cp - 0xFF41 + 97;
    return cp;
  }
  /* runs of [class, text] in s */
  function runs(s) {
    var out = [], cur = null, cls;
    for (var ch of s) {
      var cp = ch.codePointAt(0);
      cls = charClass(cp);
      var f = String.fromCodePoint(fold(cp));
      if (cls === SEP) { cur = null; continue; }
      if (cur && cur[0] === cls) cur[1].push(f);
      else { cur = [cls, [f]]; out.push(cur); }
    }
    return out;
  }
  /* what to look up: words (cut to 64 bytes like search.c), and bigrams
   * covering each CJK run without overlap (ABCDE -> AB CD DE: every shard
   * costs bytes, and adjacent pairs rarely add precision). A run of one CJK
   * char (号 in 〔2017〕28号) is looked up only when nothing else is. */
  function queryTokens(q) {
    var toks = [], seen = {}, singles = [];
    function add(t) { if (!seen[t]) { seen[t] = 1; toks.push(t); } }
    runs(q).forEach(function (r) {
      var c = r[1];
      if (r[0] === WORD) {
        var w = '', n = 0;
        for (var k = 0; k < c.length; k++) {
          var b = utf8(c[k]).length;
          if (n + b > 64) break;
          w += c[k]; n += b;
        }
        add(w);
      } else if (c.length === 1) singles.push(c[0]);
      else {
        for (var j = 0; j + 1 < c.length; j += 2) add(c[j] + c[j + 1]);
        if (c.length % 2) add(c[c.length - 2] + c[c.length - 1]);
      }
    });
    if (!toks.length) singles.forEach(add);
    return toks;
  }
  /* the whole normalised 文号 (search_norm_docnum), for queries with digits
   * and CJK, e.g. 大工办发〔2017〕28号 -> 大工办发201728号 */
  function docnumToken(q) {
    var rs = runs(q), s = '', cjk = false, digit = false;
    rs.forEach(function (r) {
      s += r[1].join('');
      if (r[0] === CJK) cjk = true;
      if (/[0-9]/.test(r[1].join(''))) digit = true;
    });
    return cjk && digit && rs.length > 1 ? s : null;
  }
  function utf8(s) { return unescape(encodeURIComponent(s)); }
  function fnv(s) {
    var b = utf8(s), h = 0x811c9dc5;
    for (var k = 0; k < b.length; k++) {
      h ^= b.charCodeAt(k);
      h = Math.imul(h, 16777619) >>> 0;
    }
    return h >>> 0;
  }

  /* ---- postings ---------------------------------------------------- */
  function decode(s) {
    var out = new Map(), id = 0, i = 0;
    function num() {
      var v = 0, mul = 1, d;
      do {
        d = B64V[s.charAt(i++)];
        if (d === undefined) throw new Error('bad postings');
        v += (d & 31) * mul;
        mul *= 32;
      } while (d & 32);
      return v;
    }
    while (i < s.length) {
      var v = num();
      id += Math.floor(v / 8);
      out.set(id, { m: v % 2 ? num() : 0, t: Math.floor(v / 2) % 4 });
    }
    return out;
  }
  function postings(meta, tok) {
    return getJSON('idx/' + (fnv(tok) % meta.shards) + '.json').then(function (sh) {
      return Object.prototype.hasOwnProperty.call(sh, tok) ? decode(sh[tok]) : new Map();
    });
  }

  /* ---- search ------------------------------------------------------ */
  function state() {
    var p = new URLSearchParams(location.search);
    return { q: (p.get('q') || '').trim(), kind: p.get('kind') || '',
             year: p.get('year') || '', district: p.get('district') || '' };
  }
  function inFilter(meta, st, id, dset) {
    if (st.kind && meta.kinds.charAt(id) !== st.kind.charAt(0)) return false;
    if (st.year) {
      var ok = meta.years.some(function (y) {
        return String(y.y) === st.year && id >= y.from && id < y.to;
      });
      if (!ok) return false;
    }
    return !dset || dset.has(id);
  }
  /* ranked ids: documents that hold every token; those whose title or 文号
   * holds them all come first, then by weighted field score, then newest */
  function rank(meta, st) {
    var toks = queryTokens(st.q), whole = docnumToken(st.q);
    var need = toks.map(function (t) { return postings(meta, t); });
    var exact = whole && toks.indexOf(whole) < 0 ? postings(meta, whole) : Promise.resolve(new Map());
    var dist = st.district ? postings(meta, 'd:' + st.district) : Promise.resolve(null);
    return Promise.all([Promise.all(need), exact, dist]).then(function (r) {
      var lists = r[0], ex = r[1], dset = r[2], scores = new Map();
      if (toks.length) {
        lists.sort(function (a, b) { return a.size - b.size; });
        lists[0].forEach(function (p0, id) {
          var tier = 1, score = 0;
          for (var k = 0; k < lists.length; k++) {
            var p = lists[k].get(id);
            if (!p) return;
            if (!(p.m & (F_TITLE | F_DOCNUM))) tier = 0;
            WEIGHT.forEach(function (w) { if (p.m & w[0]) score += w[1]; });
            score += p.t * 2;
          }
          scores.set(id, [tier, score]);
        });
        ex.forEach(function (p, id) { scores.set(id, [2, 1000]); });
      } else if (!st.q) {            /* filters only: every doc, newest first */
        for (var id = 0; id < meta.ndocs; id++) scores.set(id, [0, 0]);
      }
      var ids = [];
      scores.forEach(function (s, id) { if (inFilter(meta, st, id, dset)) ids.push(id); });
      ids.sort(function (a, b) {
        var x = scores.get(a), y = scores.get(b);
        return y[0] - x[0] || y[1] - x[1] || a - b;
      });
      return ids;
    });
  }

  /* ---- rendering ----------------------------------------------------- */
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  /* the strings to mark: the query's CJK runs and words as typed */
  function terms(q) {
    var t = [q.toLowerCase()];
    q.split(/[\s\u3000]+/).forEach(function (w) { if (w) t.push(w.toLowerCase()); });
    runs(q).forEach(function (r) { t.push(r[1].join('')); });
    return t.filter(function (s, i) { return s && t.indexOf(s) === i; });
  }
  function lower(s) { return s.replace(/[A-Z]/g, function (c) { return c.toLowerCase(); }); }
  /* append s to parent with <mark> around matches (text nodes only) */
  function highlight(parent, s, ts) {
    var low = lower(s), spans = [];
    ts.forEach(function (t) {
      for (var at = low.indexOf(t); t && at >= 0; at = low.indexOf(t, at + t.length))
        spans.push([at, at + t.length]);
    });
    spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    var pos = 0;
    spans.forEach(function (sp) {
      if (sp[1] <= pos) return;
      var from = Math.max(sp[0], pos);
      if (from > pos) parent.appendChild(document.createTextNode(s.slice(pos, from)));
      parent.appendChild(el('mark', null, s.slice(from, sp[1])));
      pos = sp[1];
    });
    if (pos < s.length) parent.appendChild(document.createTextNode(s.slice(pos)));
  }
  function docs(meta, ids) {
    var chunks = {};
    ids.forEach(function (id) { chunks[Math.floor(id / meta.chunk)] = 1; });
    var keys = Object.keys(chunks);
    return Promise.all(keys.map(function (c) { return getJSON('docs/' + c + '.json'); }))
      .then(function (arr) {
        var byChunk = {};
        keys.forEach(function (c, k) { byChunk[c] = arr[k]; });
        return ids.map(function (id) {
          return byChunk[Math.floor(id / meta.chunk)][id % meta.chunk];
        });
      });
  }
  function link(url) {
    return new URL(String(url).replace(/^\/+/, ''), root).href;
  }
  function item(d, ts) {
    var li = el('li', 'search-result');
    var h = el('h3', 'search-title'), a = el('a');
    a.href = link(d.u);
    highlight(a, d.t || d.u, ts);
    h.appendChild(a);
    li.appendChild(h);
    var m = el('p', 'search-meta');
    if (d.n) { var n = el('span', 'search-docnum'); highlight(n, d.n, ts); m.appendChild(n); }
    var g = d.g || [];
    if (g.length > 3) g = g.slice(0, 3).concat('等 ' + g.length + ' 个地区');
    [d.i, d.d, KIND[d.k] || d.k, g.join('、')].forEach(function (x) {
      if (!x) return;
      if (m.childNodes.length) m.appendChild(document.createTextNode(' · '));
      m.appendChild(el('span', null, x));
    });
    li.appendChild(m);
    if (d.s) { var p = el('p', 'search-snippet'); highlight(p, d.s, ts); li.appendChild(p); }
    return li;
  }

  var run = 0, found = [], shown = 0, curMeta = null, curTerms = [];
  function setStatus(s) { statusEl.textContent = s; }
  function showMore() {
    var my = run, ids = found.slice(shown, shown + PAGE);
    if (!ids.length) return Promise.resolve();
    return docs(curMeta, ids).then(function (ds) {
      if (my !== run) return;
      ds.forEach(function (d) { if (d) list.appendChild(item(d, curTerms)); });
      shown += ids.length;
      more.hidden = shown >= found.length;
    });
  }
  function search() {
    var st = state(), my = ++run;
    fill(st);
    list.textContent = '';
    more.hidden = true;
    found = []; shown = 0;
    if (!st.q && !st.kind && !st.year && !st.district) { setStatus(''); return Promise.resolve(); }
    setStatus('正在搜索…');
    box.setAttribute('aria-busy', 'true');
    return getJSON('meta.json').then(function (meta) {
      curMeta = meta;
      fillDistricts(meta);
      return rank(meta, st);
    }).then(function (ids) {
      if (my !== run) return;
      found = ids;
      curTerms = terms(st.q);
      setStatus(ids.length ? '找到 ' + ids.length + ' 条结果' : '没有找到与“' + st.q + '”相符的文件');
      return showMore();
    }).catch(function (e) {
      if (my === run) setStatus('搜索索引加载失败：' + e.message);
    }).then(function () {
      if (my === run) { box.removeAttribute('aria-busy'); box.setAttribute('data-done', String(my)); }
    });
  }

  /* ---- form <-> URL ---------------------------------------------------- */
  function field(name) { return form.elements[name]; }
  function fill(st) {
    ['q', 'kind', 'year', 'district'].forEach(function (k) {
      var f = field(k);
      if (f && f.value !== st[k]) f.value = st[k];
    });
  }
  function fillDistricts(meta) {
    var sel = field('district');
    if (!sel || sel.options.length > 1 || !meta.districts.length) return;
    meta.districts.forEach(function (d) {
      var o = el('option', null, d.name);
      o.value = d.id;
      sel.appendChild(o);
    });
    sel.value = state().district;
  }
  function submit(push) {
    var p = new URLSearchParams();
    ['q', 'kind', 'year', 'district'].forEach(function (k) {
      var f = field(k), v = f ? f.value.trim() : '';
      if (v) p.set(k, v);
    });
    var qs = p.toString(), url = location.pathname + (qs ? '?' + qs : '');
    if (url !== location.pathname + location.search)
      history[push ? 'pushState' : 'replaceState'](null, '', url);
    return search();
  }
  var timer = 0;
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearTimeout(timer);
    submit(true);
  });
  /* typing searches after a pause; a filter change searches at once */
  form.addEventListener('input', function (e) {
    if (e.target.tagName === 'SELECT') return;
    clearTimeout(timer);
    timer = setTimeout(function () { submit(false); }, 250);
  });
  form.addEventListener('change', function (e) {
    if (e.target.tagName !== 'SELECT') return;
    clearTimeout(timer);
    submit(false);
  });
  more.addEventListener('click', showMore);
  window.addEventListener('popstate', search);
  box.classList.add('js');
  search();
})();
