'use strict';
// The Stratus web console: lists the caches of the control plane's API, draws the selected
// cache's usage on hand-made canvas charts and shows recent events, refreshing every 2 s.
// Plain DOM code with no dependencies; every string from the API goes in through textContent.

(function () {
  const REFRESH_MS = 2000;
  const TOKEN_KEY = 'stratus-admin-token';
  const $ = (id) => document.getElementById(id);

  let token = null;
  let selected = null; // name of the cache shown in the detail section
  let caches = [];     // the last GET /v1/caches answer
  let points = [];     // the selected cache's last series
  let revealUrl = false;
  let timer = null;

  // ---- API ----

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path) {
    let res;
    try {
      res = await fetch(path, { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'cannot reach the control plane (' + e.message + ')');
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!res.ok) {
      const msg = body && body.error && body.error.message;
      throw new ApiError(res.status, msg ? String(msg) : 'HTTP ' + res.status + ' on ' + path);
    }
    return body || {};
  }

  // ---- formatting: every field may be missing ----

  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const DASH = '\u2014';

  function fmtNumber(v, digits) {
    v = num(v);
    return v === null ? DASH : v.toFixed(digits);
  }

  function fmtBytes(v) {
    v = num(v);
    if (v === null) return DASH;
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    // Number() drops trailing zeros: "1.5 MiB", not "1.50 MiB".
    return String(i === 0 ? Math.round(v) : Number(v.toFixed(v < 10 ? 2 : 1))) + ' ' + units[i];
  }

  // Dollars, with the digits a small bill needs (a sleeping cache costs fractions of a cent).
  function fmtUsd(v) {
    v = num(v);
    if (v === null) return DASH;
    if (v > 0 && v < 0.000001) return '< $0.000001';
    return '$' + v.toFixed(v !== 0 && Math.abs(v) < 0.01 ? 6 : 2);
  }

  function fmtTime(t) {
    const d = new Date(t);
    return Number.isNaN(d.getTime()) ? String(t ?? '') : d.toLocaleTimeString();
  }

  function fmtDateTime(t) {
    const d = new Date(t);
    return Number.isNaN(d.getTime()) ? String(t ?? '') : d.toLocaleString();
  }

  // The endpoint URL with its password hidden.
  function maskUrl(url) {
    return String(url ?? '').replace(/^(\w+:\/\/[^:@/]*:)[^@/]*@/, '$1\u2022\u2022\u2022\u2022@');
  }

  const field = (obj, ...keys) => keys.reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), obj);

  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (className) e.className = className;
    return e;
  }

  function badge(status) {
    const s = String(status ?? 'unknown');
    return el('span', s, 'badge status-' + s.replace(/[^a-z]/g, ''));
  }

  // ---- caches table ----

  function cacheCells(c) {
    const usage = c.usage || {};
    const cost = c.cost || {};
    return [
      ['num', fmtNumber(usage.shards, 0)],
      ['num', fmtNumber(usage.ecpu_per_second, usage.ecpu_per_second >= 100 ? 0 : 2)],
      ['num', fmtBytes(usage.storage_bytes)],
      ['num', fmtUsd(cost.to_date_usd)],
      ['num', fmtUsd(cost.month_forecast_usd)],
    ];
  }

  function cacheRow(c) {
    const name = String(c.name ?? '');
    const tr = el('tr');
    tr.dataset.cache = name;
    const th = el('th');
    th.scope = 'row';
    const button = el('button', name, 'link');
    button.type = 'button';
    th.append(button);
    // The button makes the row reachable by keyboard; its click bubbles up to the row.
    tr.addEventListener('click', () => select(name));
    tr.append(th, el('td', undefined, 'status'), el('td', undefined, 'endpoint'));
    for (let i = 0; i < 5; i++) tr.append(el('td'));
    return tr;
  }

  function renderCaches() {
    const tbody = $('cache-table').tBodies[0];
    const rows = new Map([...tbody.rows].map((r) => [r.dataset.cache, r]));
    // Rows are updated in place, so a focused row button keeps its focus across refreshes.
    caches.forEach((c, i) => {
      const name = String(c.name ?? '');
      let tr = rows.get(name);
      rows.delete(name);
      if (!tr) tr = cacheRow(c);
      if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
      tr.classList.toggle('selected', name === selected);
      tr.querySelector('button').setAttribute('aria-pressed', String(name === selected));
      tr.cells[1].dataset.status = String(c.status ?? '');
      tr.cells[1].replaceChildren(badge(c.status));
      if (typeof c.error === 'string') tr.cells[1].title = c.error;
      else tr.cells[1].removeAttribute('title');
      tr.cells[2].textContent = maskUrl(field(c, 'endpoint', 'url')) || DASH;
      cacheCells(c).forEach(([cls, text], j) => {
        const td = tr.cells[3 + j];
        td.className = cls;
        td.textContent = text;
      });
    });
    for (const tr of rows.values()) tr.remove();
    $('no-caches').hidden = caches.length > 0;
  }

  // ---- detail: facts and charts ----

  function select(name) {
    if (name === selected) return;
    selected = name;
    revealUrl = false;
    $('detail').hidden = false; // first, so the charts are sized for the screen
    renderCaches();
    renderDetail();
    renderSeries([]);
    refresh();
  }

  function renderDetail() {
    const c = caches.find((x) => String(x.name ?? '') === selected);
    if (!c) {
      $('detail').hidden = true;
      return;
    }
    $('detail-name').textContent = selected;
    $('detail-status').replaceChildren(badge(c.status));
    // A failed cache says why.
    $('detail-error').textContent = typeof c.error === 'string' ? c.error : '';
    for (const e of document.querySelectorAll('#detail-facts .problem')) e.hidden = !$('detail-error').textContent;
    const url = field(c, 'endpoint', 'url');
    $('detail-url').textContent = url ? (revealUrl ? String(url) : maskUrl(url)) : DASH;
    $('reveal-url').hidden = !url;
    $('reveal-url').textContent = revealUrl ? 'Hide password' : 'Show password';
    $('detail-ca').textContent = String(field(c, 'endpoint', 'ca') ?? DASH);
    $('detail-cost').textContent = fmtUsd(field(c, 'cost', 'to_date_usd'));
    $('detail-forecast').textContent = fmtUsd(field(c, 'cost', 'month_forecast_usd'));
  }

  function renderSeries(list) {
    points = Array.isArray(list) ? list.filter((p) => p && typeof p === 'object' && num(p.t) !== null) : [];
    points.sort((a, b) => a.t - b.t);
    const css = getComputedStyle(document.documentElement);
    const color = (name) => css.getPropertyValue(name).trim() || '#2563eb';
    drawChart($('chart-ecpu'), points, [{ key: 'ecpu_per_second', color: color('--line') }], 'decimal');
    drawChart($('chart-storage'), points, [{ key: 'storage_bytes', color: color('--line') }], 'bytes');
    drawChart($('chart-latency'), points, [
      { key: 'p50_ms', color: color('--p50') },
      { key: 'p99_ms', color: color('--p99') },
    ], 'decimal');
    drawChart($('chart-shards'), points, [{ key: 'shards', color: color('--line') }], 'count');
  }

  // A canvas sized for the screen's pixel density; returns its 2D context in CSS pixels.
  function context(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width;
    const h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }

  // The smallest 1, 2 or 5 times a power of ten at or above v.
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // A y axis a little above max: its top, the step between grid lines (1, 2 or 5 times a power
  // of ten; whole numbers for counts; of KiB, MiB ... for bytes) and how to label a line.
  function axis(max, kind) {
    const unit = kind === 'bytes' && max >= 1024 ? Math.pow(1024, Math.floor(Math.log(max) / Math.log(1024))) : 1;
    const m = max / unit;
    const step = (kind === 'count' ? Math.max(1, niceCeil(m / 4)) : niceCeil(m / 4)) * unit;
    const top = Math.max(step, Math.ceil((kind === 'count' ? max + 0.5 : max * 1.05) / step) * step);
    const digits = Math.max(0, -Math.floor(Math.log10(step / unit) + 1e-9));
    const label = kind === 'bytes' ? fmtBytes : (v) => v.toFixed(digits);
    return { top, step, label };
  }

  // Draws one line per series over time; the periods the cache slept are shaded.
  function drawChart(canvas, points, series, kind) {
    const { ctx, w, h } = context(canvas);
    const css = getComputedStyle(canvas);
    const ink = css.color || '#333';
    const pad = { left: 64, right: 12, top: 10, bottom: 22 };
    const pw = w - pad.left - pad.right;
    const ph = h - pad.top - pad.bottom;
    const drawn = points.filter((p) => series.some((s) => num(p[s.key]) !== null));
    canvas.dataset.points = String(drawn.length);

    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = ink;
    if (drawn.length === 0) {
      ctx.textAlign = 'center';
      ctx.fillText('no data yet', w / 2, h / 2);
      return;
    }
    let max = 0;
    for (const p of drawn) for (const s of series) max = Math.max(max, num(p[s.key]) ?? 0);
    const { top, step, label } = axis(max, kind);
    const t0 = drawn[0].t;
    const t1 = drawn[drawn.length - 1].t;
    const x = (t) => pad.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * pw : pw / 2);
    const y = (v) => pad.top + ph - (v / top) * ph;

    // Sleep shading: from each asleep point to the next point.
    ctx.fillStyle = css.getPropertyValue('--asleep').trim() || 'rgba(120,120,160,0.15)';
    drawn.forEach((p, i) => {
      if (p.asleep !== true) return;
      const next = drawn[i + 1] ? drawn[i + 1].t : p.t;
      ctx.fillRect(x(p.t), pad.top, Math.max(2, x(next) - x(p.t)), ph);
    });

    // Grid and labels.
    ctx.strokeStyle = css.getPropertyValue('--grid').trim() || '#ddd';
    ctx.lineWidth = 1;
    ctx.fillStyle = ink;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i * step <= top * 1.0001; i++) {
      const v = i * step;
      const gy = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.left, gy);
      ctx.lineTo(w - pad.right, gy);
      ctx.stroke();
      ctx.fillText(label(v), pad.left - 6, gy);
    }
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';
    ctx.fillText(fmtTime(t0), pad.left, h - pad.bottom + 6);
    if (t1 > t0) {
      ctx.textAlign = 'right';
      ctx.fillText(fmtTime(t1), w - pad.right, h - pad.bottom + 6);
    }

    // Lines, with a dot per point so a lone sample shows.
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      let pen = false;
      for (const p of drawn) {
        const v = num(p[s.key]);
        if (v === null) {
          pen = false;
          continue;
        }
        if (pen) ctx.lineTo(x(p.t), y(v));
        else ctx.moveTo(x(p.t), y(v));
        pen = true;
      }
      ctx.stroke();
      if (drawn.length <= 60) {
        for (const p of drawn) {
          const v = num(p[s.key]);
          if (v === null) continue;
          ctx.beginPath();
          ctx.arc(x(p.t), y(v), 2, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
  }

  // ---- events ----

  function renderEvents(events) {
    events = Array.isArray(events) ? events.filter((e) => e && typeof e === 'object') : [];
    // Newest first, whatever order they came in (ISO times sort as strings).
    events.sort((a, b) => String(b.time ?? '').localeCompare(String(a.time ?? '')));
    const tbody = $('event-table').tBodies[0];
    tbody.replaceChildren(...events.map((e) => {
      const tr = el('tr');
      const time = el('time', fmtDateTime(e.time));
      if (e.time) time.dateTime = String(e.time);
      const td = el('td');
      td.append(time);
      tr.append(td, el('td', String(e.cache ?? '')), el('td'), el('td', String(e.message ?? '')));
      tr.cells[2].append(el('span', String(e.kind ?? ''), 'kind kind-' + String(e.kind ?? '').replace(/[^a-z]/g, '')));
      return tr;
    }));
    $('no-events').hidden = events.length > 0;
  }

  // ---- refresh loop, sign-in ----

  function showError(msg) {
    $('error').textContent = msg || '';
    $('error').hidden = !msg;
  }

  async function refresh() {
    clearTimeout(timer);
    timer = null;
    if (!token) return;
    const name = selected;
    const [list, events, series] = await Promise.allSettled([
      api('/v1/caches'),
      api('/v1/events?limit=50'),
      name ? api('/v1/caches/' + encodeURIComponent(name) + '/series') : Promise.resolve(null),
    ]);
    if (!token) return; // signed out while waiting
    const failed = [list, events, series].find((r) => r.status === 'rejected');
    if (failed && failed.reason instanceof ApiError && failed.reason.status === 401) {
      signOut('The admin token was refused: ' + failed.reason.message);
      return;
    }
    if (list.status === 'fulfilled') {
      caches = Array.isArray(list.value.caches) ? list.value.caches.filter((c) => c && typeof c === 'object') : [];
      renderCaches();
      if (selected) renderDetail();
    }
    if (events.status === 'fulfilled') renderEvents(events.value.events);
    if (series.status === 'fulfilled' && series.value && name === selected) renderSeries(series.value.points);
    showError(failed ? failed.reason.message : '');
    $('status').textContent = failed ? 'Update failed at ' + fmtTime(Date.now()) : 'Updated ' + fmtTime(Date.now());
    if (timer === null && token) timer = setTimeout(refresh, REFRESH_MS);
  }

  function showConsole(signedIn) {
    $('login').hidden = signedIn;
    $('sign-out').hidden = !signedIn;
    $('caches').hidden = !signedIn;
    $('events').hidden = !signedIn;
    if (!signedIn) $('detail').hidden = true;
  }

  function signIn(t) {
    token = t;
    sessionStorage.setItem(TOKEN_KEY, t);
    showError('');
    showConsole(true);
    refresh();
  }

  function signOut(message) {
    token = null;
    selected = null;
    clearTimeout(timer);
    timer = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showConsole(false);
    $('status').textContent = '';
    showError(message || '');
    $('token-input').focus();
  }

  // A token in the URL fragment (#token=...) signs in and leaves the address bar.
  function tokenFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const t = params.get('token');
    if (t === null) return null;
    history.replaceState(null, '', location.pathname + location.search);
    return t.trim() || null;
  }

  function start() {
    $('login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const t = $('token-input').value.trim();
      $('token-input').value = '';
      if (t) signIn(t);
    });
    $('sign-out').addEventListener('click', () => signOut(''));
    $('reveal-url').addEventListener('click', () => {
      revealUrl = !revealUrl;
      renderDetail();
    });
    window.addEventListener('hashchange', () => {
      const t = tokenFromFragment();
      if (t) signIn(t);
    });
    window.addEventListener('resize', () => {
      if (selected) renderSeries(points);
    });
    const t = tokenFromFragment() || sessionStorage.getItem(TOKEN_KEY);
    if (t) signIn(t);
    else signOut('');
  }

  start();
})();
