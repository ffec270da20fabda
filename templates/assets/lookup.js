/* lookup.js - enterprise refund lookup on /stats/lookup/.
 *
 * Without this script the page shows every record in a table. With it, the
 * form filters by (part of) the enterprise name, using /stats/lookup.json
 * (name, district, period, amount, status; no contact data). Results are
 * built with text nodes only, never innerHTML, so names from the ledger
 * cannot inject markup. No dependencies. */
(function () {
  'use strict';
  var root = document.getElementById('gz-lookup');
  if (!root || !window.fetch) return;
  var input = document.getElementById('gz-lookup-q');
  var table = document.getElementById('gz-lookup-table');
  var status = document.getElementById('gz-lookup-status');
  var form = root.querySelector('form');
  var tbody = table.tBodies[0];
  var labels = { approved: '已批准', refunded: '已返还', rejected: '未通过', pending: '审核中' };
  var data = null;

  function norm(s) { return String(s || '').toLowerCase().replace(/\s+/g, ''); }

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function show(q) {
    var nq = norm(q), shown = 0;
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    for (var i = 0; i < data.length; i++) {
      var e = data[i];
      if (nq && norm(e.name).indexOf(nq) < 0) continue;
      var tr = document.createElement('tr');
      cell(tr, e.name);
      var td = cell(tr, '');
      var a = document.createElement('a');
      a.href = '/districts/' + encodeURIComponent(e.district_id) + '/';
      a.textContent = e.district;
      td.appendChild(a);
      cell(tr, e.period);
      cell(tr, e.amount_yuan, 'num');
      cell(tr, labels[e.status] || e.status);
      tbody.appendChild(tr);
      shown++;
    }
    status.textContent = nq ? ('找到 ' + shown + ' 条与“' + q + '”相关的记录。')
                            : ('共 ' + shown + ' 条记录。');
  }

  function run() {
    var q = input.value.trim();
    if (history.replaceState) {
      var url = q ? '?q=' + encodeURIComponent(q) : location.pathname;
      history.replaceState(null, '', url);
    }
    show(q);
  }

  fetch(root.getAttribute('data-index'))
    .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
    .then(function (j) {
      data = Array.isArray(j) ? j : [];
      var m = /[?&]q=([^&]*)/.exec(location.search);
      if (m) {
        try { input.value = decodeURIComponent(m[1].replace(/\+/g, ' ')); } catch (e) { /* bad escape */ }
      }
      form.addEventListener('submit', function (ev) { ev.preventDefault(); run(); });
      input.addEventListener('input', run);
      if (input.value) show(input.value.trim());
    })
    .catch(function () { /* keep the full server-rendered table */ });
})();
