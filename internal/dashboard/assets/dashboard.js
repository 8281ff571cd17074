// tend dashboard: one server-sent-event stream per page, tables drawn from
// its messages, uPlot charts on the app page. No inline script: the page's
// parameters are the body's data attributes.
'use strict';
(function () {
  const body = document.body;
  const page = body.dataset.page;
  const csrf = body.dataset.csrf;
  const canChange = body.dataset.canChange === '1';
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'cls') e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    for (const c of kids) e.append(c);
    return e;
  };

  // Units as `tend ls` prints them.
  function bytes(b) {
    if (!b) return '0b';
    if (b < 1024) return b + 'b';
    if (b < 1 << 20) return (b / 1024).toFixed(1) + 'kb';
    if (b < 1 << 30) return (b / (1 << 20)).toFixed(1) + 'mb';
    return (b / (1 << 30)).toFixed(2) + 'gb';
  }
  function dur(ms) {
    if (ms < 1000) return ms + 'ms';
    if (ms < 60e3) return Math.floor(ms / 1e3) + 's';
    if (ms < 3600e3) return Math.floor(ms / 60e3) + 'm';
    if (ms < 48 * 3600e3) return Math.floor(ms / 3600e3) + 'h';
    return Math.floor(ms / 86400e3) + 'D';
  }
  const pct = (v) => v.toFixed(1) + '%';
  const num = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const msf = (v) => (v ? v.toFixed(1) + 'ms' : '-');

  // The live indicator and the stream.
  const live = $('#live');
  function stream(params, handlers) {
    const es = new EventSource('/api/stream?' + new URLSearchParams(params));
    es.onopen = () => { if (live) { live.textContent = 'live'; live.className = 'live on'; } };
    es.onerror = () => { if (live) { live.textContent = 'reconnecting…'; live.className = 'live off'; } };
    // The session is over (logged out, expired, its token revoked).
    es.addEventListener('ended', () => { es.close(); window.location.assign('/login'); });
    for (const name in handlers) {
      es.addEventListener(name, (ev) => handlers[name](JSON.parse(ev.data)));
    }
    return es;
  }
  function dropped(n) {
    if (live && n > 0) live.title = n + ' updates dropped (this browser was slow)';
  }

  async function post(path, payload) {
    const r = await fetch(path, {
      method: 'POST',
      headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' },
      body: payload ? JSON.stringify(payload) : '{}',
      credentials: 'same-origin',
    });
    let data = null;
    try { data = await r.json(); } catch (e) { /* empty */ }
    if (!r.ok) throw new Error((data && data.error) || r.status + ' ' + r.statusText);
    return data;
  }

  // confirm shows the page's dialog; resolves true on Confirm.
  function confirmBox(text) {
    const m = $('#confirm');
    $('#confirm-text').textContent = text;
    m.hidden = false;
    const yes = $('#confirm-yes');
    const no = $('#confirm-no');
    const back = document.activeElement;
    yes.focus();
    return new Promise((resolve) => {
      const done = (v) => {
        m.hidden = true;
        yes.onclick = no.onclick = m.onkeydown = null;
        if (back) back.focus();
        resolve(v);
      };
      yes.onclick = () => done(true);
      no.onclick = () => done(false);
      // Escape cancels; Tab stays within the dialog.
      m.onkeydown = (e) => {
        if (e.key === 'Escape') done(false);
        if (e.key === 'Tab') { e.preventDefault(); (document.activeElement === yes ? no : yes).focus(); }
      };
    });
  }

  // A small line drawn on a canvas, for the overview's sparklines.
  function spark(canvas, values) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 80;
    const h = canvas.clientHeight || 20;
    canvas.width = w * dpr;
    canvas.height = h * dpr;
    const c = canvas.getContext('2d');
    c.scale(dpr, dpr);
    c.clearRect(0, 0, w, h);
    if (!values || values.length < 2) return;
    let hi = 0;
    for (const v of values) hi = Math.max(hi, v);
    hi = hi || 1;
    c.strokeStyle = getComputedStyle(canvas).color;
    c.lineWidth = 1.2;
    c.beginPath();
    values.forEach((v, i) => {
      const x = (i / (values.length - 1)) * (w - 2) + 1;
      const y = h - 1 - (v / hi) * (h - 2);
      if (i === 0) c.moveTo(x, y); else c.lineTo(x, y);
    });
    c.stroke();
  }

  // Paging of long tables: 50 rows a page keeps 1,000 rows cheap.
  function pager(size, onChange) {
    let pageNo = 0;
    let total = 0;
    const prev = $('#prev');
    const next = $('#next');
    const label = $('#pageno');
    const pages = () => Math.max(1, Math.ceil(total / size));
    prev.onclick = () => { if (pageNo > 0) { pageNo--; onChange(); } };
    next.onclick = () => { if (pageNo < pages() - 1) { pageNo++; onChange(); } };
    return {
      slice(rows) {
        total = rows.length;
        pageNo = Math.min(pageNo, pages() - 1);
        label.textContent = 'page ' + (pageNo + 1) + ' of ' + pages();
        prev.disabled = pageNo === 0;
        next.disabled = pageNo >= pages() - 1;
        return rows.slice(pageNo * size, (pageNo + 1) * size);
      },
    };
  }

  function statusCell(status) {
    return el('td', {}, el('span', { cls: 'badge s-' + status, text: status }));
  }

  // ---- Overview ----
  function overview() {
    let apps = [];
    const sparks = {}; // id → {cpu:[], memory:[], rps:[]}
    let shown = '';
    const tbody = $('#apps tbody');
    // The server drew the first rows: they showed with the first paint.
    if (tbody.rows.length) performance.mark('tend:server-rendered');
    const filter = $('#filter');
    const pg = pager(50, draw);
    filter.oninput = draw;

    async function loadSparks(ids) {
      const key = ids.join(',');
      if (!ids.length || key === shown) return;
      shown = key;
      const r = await fetch('/api/spark?ids=' + key);
      if (!r.ok) return;
      const data = await r.json();
      for (const id in data) sparks[id] = data[id].v;
      draw();
    }
    function draw() {
      const f = filter.value.trim().toLowerCase();
      const rows = apps.filter((a) => !f || a.name.toLowerCase().includes(f) || a.namespace.toLowerCase().includes(f));
      $('#counts').textContent = rows.length + ' of ' + apps.length + ' apps';
      const visible = pg.slice(rows);
      tbody.replaceChildren(...visible.map((a) => {
        const cv = el('canvas', { cls: 'spark', 'aria-hidden': 'true' });
        const tr = el('tr', { 'data-app': a.name, 'data-id': String(a.id) },
          el('th', { scope: 'row' }, el('a', { href: '/apps/' + a.id, text: (a.namespace && a.namespace !== 'default' ? a.namespace + '/' : '') + a.name })),
          statusCell(a.status),
          el('td', { cls: 'n', text: a.online + '/' + a.total }),
          el('td', { cls: 'n', text: pct(a.cpu) }),
          el('td', { cls: 'n', text: bytes(a.memory) }),
          el('td', { cls: 'n', text: a.has_http ? num(a.rps) : '-' }),
          el('td', { cls: 'n', text: a.has_http ? msf(a.p95) : '-' }),
          el('td', { cls: 'n', text: a.has_http ? num(a.err5xx) : '-' }),
          el('td', { cls: 'n restarts', text: String(a.restarts_hour) }),
          el('td', {}, cv));
        tr.title = a.reason || '';
        requestAnimationFrame(() => spark(cv, sparks[a.id] && (a.has_http ? sparks[a.id].rps : sparks[a.id].cpu)));
        return tr;
      }));
      loadSparks(visible.map((a) => a.id));
      // The first rows on screen: what the benchmark's first render waits for.
      if (visible.length && !performance.getEntriesByName('tend:rendered').length) performance.mark('tend:rendered');
    }
    function alerts(list) {
      const ul = $('#alerts');
      if (!list) return;
      if (!list.length) { ul.replaceChildren(el('li', { cls: 'muted', text: 'No recent alerts.' })); return; }
      ul.replaceChildren(...list.slice(-20).reverse().map((a) => el('li', { cls: a.resolved ? 'ok' : 'bad' },
        el('time', { text: new Date(a.time).toLocaleTimeString() }), ' ', (a.app ? a.app + ': ' : '') + a.message)));
    }
    stream({ page: 'overview' }, {
      apps(m) {
        apps = m.apps || [];
        for (const a of apps) {
          const s = sparks[a.id];
          if (s) {
            s.cpu.push(a.cpu); s.memory.push(a.memory); s.rps.push(a.rps);
            for (const k of ['cpu', 'memory', 'rps']) if (s[k].length > 900) s[k].shift();
          }
        }
        draw();
        alerts(m.alerts);
        dropped(m.dropped);
      },
    });
  }

  // ---- App ----
  function appPage() {
    const id = body.dataset.app;
    let app = null;
    let detail = null;
    let hist = null;
    const charts = [];
    const tbody = $('#instances tbody');
    const pg = pager(100, drawInstances);
    const progress = $('#progress');

    document.querySelectorAll('.act').forEach((b) => { b.disabled = !canChange; });
    $('#scale-n').disabled = !canChange;

    function drawInstances() {
      if (!app) return;
      tbody.replaceChildren(...pg.slice(app.instances).map((i) => {
        const le = i.last_exit;
        let last = '-';
        if (le) last = (le.signal || 'code ' + le.code) + (le.reason ? ' (' + le.reason + ')' : '') + ', ' + dur(Math.max(0, Date.now() - Date.parse(le.at))) + ' ago';
        return el('tr', { 'data-index': String(i.index) },
          el('td', { cls: 'n', text: String(i.index) }),
          el('td', { cls: 'n pid', text: i.pid ? String(i.pid) : '-' }),
          statusCell(i.status),
          el('td', { cls: 'n', text: i.pid ? dur(i.uptime_ms) : '-' }),
          el('td', { cls: 'n restarts', text: String(i.restarts) }),
          el('td', { cls: 'n', text: pct(i.cpu_percent) }),
          el('td', { cls: 'n', text: bytes(i.memory_bytes) }),
          el('td', { text: last }));
      }));
    }
    function drawHead() {
      if (!app) return;
      $('#title').textContent = app.name;
      document.title = app.name + ' · tend';
      const online = app.instances.filter((i) => i.status === 'online').length;
      $('#status').replaceChildren(el('span', { cls: 'badge s-' + app.status, text: app.status, id: 'app-status' }),
        ' ' + online + '/' + app.instances.length + ' online · ' + app.mode + (app.port ? ' · port ' + app.port : '') + (app.reason ? ' · ' + app.reason : ''));
      if (document.activeElement !== $('#scale-n')) $('#scale-n').value = app.instances.length;
    }
    function drawDetail() {
      if (!detail) return;
      drawEvents();
      const crashes = (detail.crashes || []).slice(-20).reverse();
      $('#crashes').replaceChildren(...(crashes.length ? crashes.map((c) => el('details', {},
        el('summary', { text: new Date(c.at).toLocaleString() + ' · instance ' + c.instance + ' · ' + (c.signal || 'code ' + c.code) + (c.error ? ' · ' + c.error : '') }),
        el('pre', { cls: 'stack', text: stackOf(c) }))) : [el('p', { cls: 'muted', text: 'No crashes recorded.' })]));
      $('#settings').textContent = JSON.stringify(detail.spec || {}, null, 2);
    }
    // The stack trace of a crash: the stderr its instance's last exit kept,
    // when that exit is this crash.
    function stackOf(c) {
      const i = (detail.instances || []).find((x) => x.index === c.instance);
      const le = i && i.last_exit;
      if (le && le.stderr && Math.abs(Date.parse(le.at) - Date.parse(c.at)) < 1000) return le.stderr.join('\n');
      return c.error || '(no stderr kept for this crash)';
    }
    // The app's recorded events and what the stream told since the page
    // opened, newest first.
    const liveEvents = [];
    function drawEvents() {
      const all = ((detail && detail.events) || []).map((e) => ({ at: e.at, text: e.message })).concat(liveEvents);
      all.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
      $('#events').replaceChildren(...all.slice(0, 100).map((e) => el('li', {}, el('time', { text: new Date(e.at).toLocaleString() }), ' ' + e.text)));
    }
    function describeEvent(e) {
      const parts = [e.type];
      if (e.instance >= 0) parts.push('#' + e.instance);
      if (e.action) parts.push(e.action);
      if (e.status) parts.push(e.status);
      if (e.pid) parts.push('pid ' + e.pid);
      if (e.exit) parts.push('exit ' + (e.exit.signal || 'code ' + e.exit.code) + (e.exit.reason ? ' (' + e.exit.reason + ')' : ''));
      if (e.to) parts.push('to ' + e.to);
      if (e.message) parts.push(e.message);
      if (e.error) parts.push('error: ' + e.error);
      return parts.join(' · ');
    }
    async function loadDetail() {
      const r = await fetch('/api/apps/' + id);
      if (!r.ok) return;
      const d = await r.json();
      detail = d.app;
      hist = d.history;
      if (!app) app = d.app;
      drawHead(); drawInstances(); drawDetail(); drawCharts();
    }
    let detailTimer = null;
    function detailSoon() {
      if (detailTimer) return;
      detailTimer = setTimeout(() => { detailTimer = null; loadDetail(); }, 500);
    }

    const defs = [
      { title: 'CPU', keys: ['cpu'], fmt: (v) => pct(v) },
      { title: 'Memory', keys: ['memory'], fmt: bytes },
      { title: 'Requests/s', keys: ['rps', 'err5xx'], fmt: num, labels: ['req/s', '5xx/s'] },
      { title: 'Latency', keys: ['p50', 'p95', 'p99'], fmt: msf },
      { title: 'Event-loop delay p99', keys: ['loop_p99'], fmt: msf, node: true },
      { title: 'Heap used', keys: ['heap'], fmt: bytes, node: true },
    ];
    const colors = ['#2f7ed8', '#e4572e', '#17a589', '#9b59b6'];
    function drawCharts() {
      if (!hist || !window.uPlot) return;
      const box = $('#charts');
      if (!charts.length) {
        for (const d of defs) {
          if (d.node && !hist.v[d.keys[0]].some((v) => v > 0)) continue;
          const wrap = el('figure', { cls: 'chart' }, el('figcaption', { text: d.title }));
          box.append(wrap);
          const opts = {
            width: Math.max(200, wrap.clientWidth - 18), height: 160,
            scales: { x: { time: true } },
            axes: [{ stroke: 'currentColor' }, { stroke: 'currentColor', values: (u, vals) => vals.map((v) => (v === 0 ? '0' : d.fmt(v))), size: 76 }],
            series: [{}].concat(d.keys.map((k, i) => ({ label: d.labels ? d.labels[i] : k, stroke: colors[i], width: 1.5, value: (u, v) => (v == null ? '-' : d.fmt(v)) }))),
            legend: { show: d.keys.length > 1, live: false },
          };
          charts.push({ d, wrap, u: new uPlot(opts, dataOf(d), wrap) });
        }
      } else {
        for (const c of charts) c.u.setData(dataOf(c.d));
      }
    }
    window.addEventListener('resize', () => {
      for (const c of charts) c.u.setSize({ width: Math.max(200, c.wrap.clientWidth - 18), height: 160 });
    });
    function dataOf(d) { return [hist.t].concat(d.keys.map((k) => hist.v[k])); }
    function addPoint(t) {
      if (!hist || !app) return;
      const s = { cpu: 0, memory: 0, rps: 0, p50: 0, p95: 0, p99: 0, err5xx: 0, loop_p99: 0, heap: 0, restarts: 0 };
      for (const i of app.instances) {
        s.cpu += i.cpu_percent; s.memory += i.memory_bytes; s.restarts += i.restarts;
        if (i.http) { s.rps += i.http.rps; s.p50 = Math.max(s.p50, i.http.p50_ms); s.p95 = Math.max(s.p95, i.http.p95_ms); s.p99 = Math.max(s.p99, i.http.p99_ms); }
        if (i.node) { s.loop_p99 = Math.max(s.loop_p99, (i.node.eventloop_delay_p99_seconds || 0) * 1000); s.heap += i.node.heap_used_bytes || 0; }
      }
      const last = hist.t.length ? hist.t[hist.t.length - 1] : 0;
      if (t <= last) return;
      hist.t.push(t);
      for (const k in hist.v) {
        if (k === 'err5xx') hist.v[k].push(hist.v[k].length ? hist.v[k][hist.v[k].length - 1] : 0);
        else hist.v[k].push(s[k]);
      }
      while (hist.t.length > 3600) { hist.t.shift(); for (const k in hist.v) hist.v[k].shift(); }
      drawCharts();
    }

    document.querySelectorAll('button.act[data-action]').forEach((b) => {
      b.onclick = async () => {
        const action = b.dataset.action;
        const payload = action === 'scale' ? { instances: String($('#scale-n').value) } : null;
        const what = action === 'scale' ? 'Scale ' + app.name + ' to ' + payload.instances + ' instances?' : action[0].toUpperCase() + action.slice(1) + ' ' + (app ? app.name : 'this app') + '?';
        if (!(await confirmBox(what))) return;
        progress.textContent = action + '…';
        b.disabled = true;
        try {
          await post('/api/apps/' + id + '/' + action, payload);
          progress.textContent = action + ' done';
        } catch (e) {
          progress.textContent = action + ' failed: ' + e.message;
        } finally {
          b.disabled = !canChange;
          loadDetail();
        }
      };
    });
    const prof = $('#profile');
    prof.action = '/api/apps/' + id + '/profile';
    prof.onsubmit = () => { progress.textContent = 'profiling… the file downloads when it is done'; };

    $('#doctor-run').onclick = async () => {
      const tb = $('#doctor tbody');
      tb.replaceChildren(el('tr', {}, el('td', { text: 'running…' })));
      const r = await fetch('/api/apps/' + id + '/doctor');
      const data = await r.json();
      if (!r.ok) { tb.replaceChildren(el('tr', {}, el('td', { text: data.error }))); return; }
      tb.replaceChildren(...data.map((x) => el('tr', {},
        el('td', {}, el('span', { cls: 'badge l-' + x.level, text: x.level })),
        el('td', { text: x.check }), el('td', { text: x.detail || '' }), el('td', { cls: 'fix', text: x.fix || '' }))));
    };

    loadDetail();
    stream({ page: 'app', app: id }, {
      app(m) {
        app = m.app;
        drawHead(); drawInstances(); addPoint(m.t);
        dropped(m.dropped);
      },
      events(evs) {
        for (const e of evs) {
          if (e.type === 'reload.step' && e.message) progress.textContent = 'reload: ' + e.message;
          liveEvents.push({ at: e.time, text: describeEvent(e) });
        }
        if (liveEvents.length > 200) liveEvents.splice(0, liveEvents.length - 200);
        drawEvents();
        detailSoon();
      },
      gone() { $('#status').textContent = 'this app is gone'; },
    });
  }

  // ---- Logs ----
  function logsPage() {
    const pre = $('#log');
    const sel = $('#log-app');
    const filter = $('#log-filter');
    const streamSel = $('#log-stream');
    const pauseBtn = $('#log-pause');
    const maxLines = 2000;
    let paused = false;
    let held = [];
    let es = null;
    const params = new URLSearchParams(location.search);

    function connect() {
      if (es) es.close();
      pre.replaceChildren();
      es = stream({ page: 'logs', app: sel.value }, {
        lines(m) {
          if (m.dropped) $('#log-dropped').textContent = m.dropped + ' lines dropped (this browser was slow)';
          if (paused) { held = held.concat(m.lines).slice(-maxLines); return; }
          show(m.lines);
        },
      });
    }
    function show(lines) {
      const f = filter.value;
      const st = streamSel.value;
      const frag = document.createDocumentFragment();
      for (const l of lines) {
        if (st && l.s !== st) continue;
        if (f && !l.m.includes(f)) continue;
        const t = new Date(l.t).toISOString().slice(11, 23);
        frag.append(el('span', { cls: 'line ' + l.s, text: t + ' ' + l.app + '[' + l.i + '] ' + l.s + ' | ' + l.m + '\n' }));
      }
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(frag);
      while (pre.childNodes.length > maxLines) pre.firstChild.remove();
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    }
    pauseBtn.onclick = () => {
      paused = !paused;
      pauseBtn.textContent = paused ? 'Resume' : 'Pause';
      pauseBtn.setAttribute('aria-pressed', String(paused));
      if (!paused) { show(held); held = []; }
    };
    sel.onchange = connect;
    const want = params.get('app');
    if (want) sel.value = want;
    connect();
  }

  // ---- Hosts ----
  // The fleet's hosts, when this daemon runs the hub: each host's state
  // and figures and its apps, paged and filtered like the overview.
  function hostsPage() {
    const tbody = $('#hosts tbody');
    if (!tbody) { stream({ page: 'hosts' }, {}); return; } // no fleet here: the note says why
    let hosts = [];
    let now = Date.now();
    const filter = $('#filter');
    const pg = pager(50, draw);
    filter.oninput = draw;
    const matches = (h, f) => !f || h.name.includes(f) ||
      Object.keys(h.labels || {}).some((k) => (k + '=' + h.labels[k]).toLowerCase().includes(f)) ||
      (h.apps || []).some((a) => a.name.toLowerCase().includes(f));
    function draw() {
      const f = filter.value.trim().toLowerCase();
      const rows = hosts.filter((h) => matches(h, f));
      const lost = hosts.filter((h) => !h.alive).length;
      $('#counts').textContent = rows.length + ' of ' + hosts.length + ' hosts' + (lost ? ', ' + lost + ' lost' : '');
      const visible = pg.slice(rows);
      if (!visible.length) {
        tbody.replaceChildren(el('tr', {}, el('td', { colspan: '8', cls: 'muted', text: hosts.length ? 'No host matches.' : 'No host has reported yet (tend hub add-host makes one).' })));
        return;
      }
      tbody.replaceChildren(...visible.map((h) => {
        const state = h.alive ? 'alive' : 'lost';
        const labels = Object.keys(h.labels || {}).sort().map((k) => k + '=' + h.labels[k]).join(' ');
        const apps = (h.apps || []).map((a) => el('li', { 'data-app': a.name },
          (a.namespace && a.namespace !== 'default' ? a.namespace + '/' : '') + a.name + ' ',
          el('span', { cls: 'badge s-' + a.status, text: a.status }), ' ' + a.online + '/' + a.total));
        const seen = Date.parse(h.last_seen);
        return el('tr', { 'data-host': h.name, 'data-state': state },
          el('th', { scope: 'row', text: h.name }),
          el('td', { text: labels || '-' }),
          el('td', {}, el('span', { cls: 'badge s-' + state, text: state })),
          el('td', { cls: 'n', text: seen > 0 ? dur(Math.max(0, now - seen)) + ' ago' : '-' }),
          el('td', { text: h.version || '-' }),
          el('td', { cls: 'n', text: pct(h.cpu) }),
          el('td', { cls: 'n', text: bytes(h.memory) }),
          el('td', {}, apps.length ? el('ul', { cls: 'host-apps' }, ...apps) : el('span', { cls: 'muted', text: 'no apps' })));
      }));
    }
    stream({ page: 'hosts' }, {
      hosts(m) {
        hosts = m.hosts || [];
        now = m.t || Date.now();
        const err = $('#hosts-error');
        err.hidden = !m.error;
        err.textContent = m.error ? 'The fleet could not be read: ' + m.error : '';
        draw();
        dropped(m.dropped);
      },
    });
  }

  if (page === 'overview') overview();
  else if (page === 'app') appPage();
  else if (page === 'logs') logsPage();
  else if (page === 'hosts') hostsPage();
})();
