/*
 * Example frontend for odoo-sync (see README.md beside this file): follows a tenant's first
 * sync and then shows its dashboard. Plain browser JavaScript, no library, no build step.
 *
 * Flow: the API base URL and a tenant token come from the form or from the URL fragment
 * (#api=...&token=...[&stream=off][&poll=SECONDS]). The page reads GET /odoo/status/events
 * (Server-Sent Events) and shows the progress; when the stream cannot be opened or breaks it
 * polls GET /odoo/status with If-None-Match instead (304: unchanged). Once syncStatus is
 * "done" it loads GET /odoo/dashboard (403 sync_not_ready before) and draws its figures.
 *
 * The body's data-* attributes (phase, transport, seen, notModified) say what the page did;
 * they are for tests/example_frontend.rs and harmless otherwise.
 */
'use strict';

(function () {
  /** Figured modules of GET /odoo/dashboard, in display order, with their bar colours. */
  const MODULES = [
    { key: 'sales', label: 'Sales orders', colour: '#1f77b4' },
    { key: 'invoices', label: 'Invoices', colour: '#ff7f0e' },
    { key: 'contacts', label: 'Contacts', colour: '#2ca02c' },
    { key: 'employees', label: 'Employees', colour: '#d62728' },
  ];
  const REVENUE_COLOUR = '#9467bd';
  const INK = '#333333';
  const GRID = '#dddddd';
  /** Longest wait between retries after network errors. */
  const MAX_BACKOFF_MS = 30000;

  const $ = (id) => document.getElementById(id);
  const body = document.body;

  /** The run in progress: one (API, token) pair; a new one aborts the old one's requests. */
  let current = null;

  /** A failure that retrying cannot fix (bad token, forbidden): the run stops with it. */
  class Fatal extends Error {}

  // ---------------------------------------------------------------- small helpers

  function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    });
  }

  function headers(run, extra) {
    return Object.assign({ Authorization: 'Bearer ' + run.token }, extra || {});
  }

  /** The API's JSON error ({error, message}) of a failed response, or what can be had. */
  async function errorOf(response) {
    const text = await response.text().catch(() => '');
    try {
      const json = JSON.parse(text);
      return { code: json.error || String(response.status), message: json.message || '' };
    } catch (_) {
      return { code: String(response.status), message: text.slice(0, 200) };
    }
  }

  /** fetch() whose network failures (and CORS refusals, which look the same) say what to check. */
  async function call(run, path, init) {
    try {
      return await fetch(run.api + path, Object.assign({ signal: run.signal, cache: 'no-store' }, init));
    } catch (e) {
      if (run.signal.aborted) throw e;
      throw new Error('cannot reach ' + run.api + ' (' + e.message + '): is the API running, and does ' +
        'its CORS_ALLOWED_ORIGINS name this page\'s origin, ' + location.origin + '?');
    }
  }

  function fatalAuth(path, error) {
    return new Fatal(path + ' answered 401 ' + error.code + ': the API refused the token. Check that it is ' +
      'signed with the service\'s JWT_SECRET (HS256), that its sub is the user id, and that it has not expired.' +
      (error.message ? ' (' + error.message + ')' : ''));
  }

  function showError(text) {
    const box = $('error');
    box.textContent = text;
    box.hidden = !text;
  }

  function showNote(text) {
    const note = $('note');
    note.textContent = text || '';
    note.hidden = !text;
  }

  function setTransport(kind, text) {
    body.dataset.transport = kind;
    $('transport').textContent = text;
  }

  /** An amount in its own currency; `notation` 'compact' (€222K) for axis labels. */
  function money(amount, currency, notation) {
    try {
      return new Intl.NumberFormat(undefined, { style: 'currency', currency, notation }).format(amount);
    } catch (_) {
      // A code Intl does not know (or XXX on an old engine): the number and the code.
      return amount.toLocaleString() + ' ' + currency;
    }
  }

  /** `2024-03` as the month's short name (the dashboard's months are UTC). */
  function monthName(month) {
    const date = new Date(month + '-01T00:00:00Z');
    return isNaN(date) ? month : date.toLocaleString(undefined, { month: 'short', timeZone: 'UTC' });
  }

  function cell(row, text) {
    const td = document.createElement('td');
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  // ---------------------------------------------------------------- status

  /** Shows a status (the JSON of GET /odoo/status); true when the sync is done. */
  function showStatus(run, status) {
    const p = status.progress || {};
    const pct = Math.max(0, Math.min(100, Number(p.progressPercentage) || 0));
    $('progress').value = pct;
    $('progress').dataset.percentage = String(pct);
    $('percentage').textContent = pct + ' %';
    $('sync-status').textContent = status.syncStatus;
    $('odoo-version').textContent = status.odooVersion ? '(Odoo ' + status.odooVersion + ')' : '';
    $('batches').textContent = (p.completedBatches || 0) + ' of ' + (p.totalBatches || 0) +
      ' batches done, ' + (p.failedBatches || 0) + ' failed, ' + (p.pendingBatches || 0) + ' pending';
    const seen = status.syncStatus + ':' + pct;
    if (run.seen[run.seen.length - 1] !== seen) {
      run.seen.push(seen);
      body.dataset.seen = run.seen.join(' ');
    }
    const notes = [];
    if (!status.connectionInfoAvailable) {
      notes.push('No Odoo connection is saved for this user yet (POST /odoo/save-connection); waiting for one.');
    } else if (status.error) {
      notes.push('The sync is stopped until someone acts: ' + status.error.code + ': ' + status.error.message);
    }
    for (const w of status.warnings || []) notes.push(w.code + ': ' + w.message);
    if (run.fallbackNote) notes.push(run.fallbackNote);
    showNote(notes.join('\n'));
    return status.syncStatus === 'done';
  }

  /**
   * Follows GET /odoo/status/events until the sync is done: returns true then, or false when
   * the stream could not be opened or ended first (the caller falls back to polling).
   *
   * EventSource cannot be used: it sends no Authorization header, so the token would have to
   * travel in the URL, where server logs, proxies and the browser's history keep it. fetch()
   * sends the header, and its body's ReadableStream is read and parsed as Server-Sent Events
   * here (lines of `field: value`, an empty line ends an event, `:` starts a comment).
   */
  async function followStream(run) {
    let response;
    try {
      response = await call(run, '/odoo/status/events', {
        headers: headers(run, { Accept: 'text/event-stream' }),
      });
    } catch (e) {
      if (run.signal.aborted) throw e;
      run.fallbackNote = 'The event stream could not be opened; polling instead. ' + e.message;
      return false;
    }
    if (response.status === 401) throw fatalAuth('GET /odoo/status/events', await errorOf(response));
    if (!response.ok || !response.body) {
      // 429 too_many_streams, 503 streams_exhausted, or a proxy that does not pass streams.
      const error = response.ok ? { code: 'no readable body', message: '' } : await errorOf(response);
      run.fallbackNote = 'Live updates unavailable (' + response.status + ' ' + error.code +
        '); checking GET /odoo/status every ' + run.pollMs / 1000 + ' s instead.';
      return false;
    }
    setTransport('stream', 'event stream (GET /odoo/status/events)');
    showError('');
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let event = { type: '', data: [] };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        for (;;) {
          const end = buffer.search(/[\r\n]/);
          // A lone CR at the end may be the first half of CRLF: wait for the next chunk.
          if (end < 0 || (buffer[end] === '\r' && end === buffer.length - 1)) break;
          const line = buffer.slice(0, end);
          buffer = buffer.slice(buffer.startsWith('\r\n', end) ? end + 2 : end + 1);
          if (line === '') {
            if (event.type === 'status' && event.data.length) {
              if (showStatus(run, JSON.parse(event.data.join('\n')))) {
                reader.cancel().catch(() => {});
                return true;
              }
            }
            event = { type: '', data: [] };
            continue;
          }
          if (line.startsWith(':')) continue; // keep-alive comment
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let text = colon < 0 ? '' : line.slice(colon + 1);
          if (text.startsWith(' ')) text = text.slice(1);
          if (field === 'event') event.type = text;
          else if (field === 'data') event.data.push(text);
          // `id` (the status's ETag) and `retry` are not needed here.
        }
      }
    } catch (e) {
      if (run.signal.aborted) throw e;
    }
    run.fallbackNote = 'The event stream ended before the sync was done; polling instead.';
    return false;
  }

  /** Polls GET /odoo/status with If-None-Match until the sync is done. */
  async function pollUntilDone(run) {
    setTransport('polling', 'polling GET /odoo/status every ' + run.pollMs / 1000 + ' s with If-None-Match');
    let backoff = run.pollMs;
    for (;;) {
      let wait = run.pollMs;
      try {
        const response = await call(run, '/odoo/status', {
          headers: headers(run, run.etag ? { 'If-None-Match': run.etag } : {}),
        });
        if (response.status === 304) {
          // Unchanged since the ETag we hold: nothing to read, nothing to redraw.
          run.notModified += 1;
          body.dataset.notModified = String(run.notModified);
          showError('');
        } else if (response.ok) {
          run.etag = response.headers.get('ETag');
          const status = await response.json();
          showError('');
          if (showStatus(run, status)) return;
        } else if (response.status === 401) {
          throw fatalAuth('GET /odoo/status', await errorOf(response));
        } else {
          const error = await errorOf(response);
          showError('GET /odoo/status answered ' + response.status + ' ' + error.code + ': ' + error.message);
          const after = Number(response.headers.get('Retry-After'));
          if (after > 0) wait = after * 1000;
        }
        backoff = run.pollMs;
      } catch (e) {
        if (e instanceof Fatal || run.signal.aborted) throw e;
        // The network or the API is down: say so, and try again less and less often.
        showError(e.message + ' Retrying in ' + Math.round(backoff / 1000) + ' s.');
        wait = backoff;
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
      await sleep(wait, run.signal);
    }
  }

  // ---------------------------------------------------------------- dashboard

  /** Loads GET /odoo/dashboard and shows it; waits again while it answers sync_not_ready. */
  async function showDashboard(run) {
    let backoff = run.pollMs;
    for (;;) {
      let response;
      try {
        response = await call(run, '/odoo/dashboard', { headers: headers(run) });
      } catch (e) {
        if (run.signal.aborted) throw e;
        showError(e.message + ' Retrying in ' + Math.round(backoff / 1000) + ' s.');
        await sleep(backoff, run.signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      if (response.ok) {
        showError('');
        renderDashboard(await response.json());
        return;
      }
      const error = await errorOf(response);
      if (response.status === 401) throw fatalAuth('GET /odoo/dashboard', error);
      if (response.status === 403 && error.code === 'sync_not_ready') {
        // The status said done a moment ago (or a resync started since): wait for done again.
        run.fallbackNote = 'The dashboard is not ready yet (403 sync_not_ready); waiting for the sync.';
        showNote(run.fallbackNote);
        await sleep(run.pollMs, run.signal);
        await pollUntilDone(run);
        continue;
      }
      if (response.status === 403) {
        throw new Fatal('GET /odoo/dashboard answered 403 ' + error.code + ': ' + error.message);
      }
      showError('GET /odoo/dashboard answered ' + response.status + ' ' + error.code + ': ' + error.message);
      await sleep(backoff, run.signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  function renderDashboard(data) {
    const modules = data.modules || {};
    $('dashboard').hidden = false;
    $('last-sync').textContent = data.lastSyncAt
      ? 'Mirror last written ' + new Date(data.lastSyncAt).toLocaleString() + '.'
      : 'Nothing mirrored yet.';

    const counts = $('counts');
    counts.replaceChildren();
    const bars = [];
    for (const m of MODULES) {
      const figures = modules[m.key];
      const records = figures ? figures.records : 0;
      const card = document.createElement('div');
      card.className = 'card';
      card.dataset.testid = 'count-' + m.key;
      card.dataset.count = String(records);
      const title = document.createElement('span');
      title.textContent = m.label;
      const number = document.createElement('strong');
      number.textContent = records.toLocaleString();
      const detail = document.createElement('small');
      detail.textContent = figures
        ? figures.archived + ' archived, ' + figures.deleted + ' deleted in Odoo'
        : 'not synced';
      card.append(title, number, detail);
      counts.appendChild(card);
      bars.push({ label: m.label, value: records, colour: m.colour, text: records.toLocaleString() });
    }
    barChart($('chart-records'), bars, (v) => Math.round(v).toLocaleString());

    const sales = modules.sales || { totalByCurrency: {}, revenueByMonth: [] };
    const totals = $('sales-totals').tBodies[0];
    totals.replaceChildren();
    for (const [code, amount] of Object.entries(sales.totalByCurrency || {})) {
      const row = totals.insertRow();
      cell(row, code);
      cell(row, money(amount, code)).dataset.testid = 'sales-total-' + code;
    }

    // Revenue is drawn one currency at a time: amounts of different currencies never share
    // an axis, let alone a sum. The default is the currency with revenue in the most months.
    const months = sales.revenueByMonth || [];
    const currencies = new Map();
    for (const code of Object.keys(sales.totalByCurrency || {})) currencies.set(code, 0);
    for (const month of months) {
      for (const code of Object.keys(month.byCurrency || {})) {
        currencies.set(code, (currencies.get(code) || 0) + 1);
      }
    }
    const ranked = [...currencies.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const select = $('revenue-currency');
    select.replaceChildren(...ranked.map(([code]) => new Option(code, code)));
    const drawRevenue = () => {
      const code = select.value;
      barChart($('chart-revenue'), months.map((m) => ({
        label: monthName(m.month),
        value: (m.byCurrency || {})[code] || 0,
        colour: REVENUE_COLOUR,
        text: '',
      })), (v) => money(v, code, 'compact'));
    };
    select.onchange = drawRevenue;
    drawRevenue();

    const receivables = $('receivables').tBodies[0];
    receivables.replaceChildren();
    const owed = (modules.invoices || {}).receivables || {};
    for (const [code, balance] of Object.entries(owed)) {
      const row = receivables.insertRow();
      cell(row, code);
      cell(row, money(balance.open.amount, code) + ' (' + balance.open.invoices.count + ' invoices)');
      cell(row, money(balance.overdue.amount, code) + ' (' + balance.overdue.invoices.count + ' invoices)');
    }

    const recent = $('recent').tBodies[0];
    recent.replaceChildren();
    for (const item of data.recentActivity || []) {
      const row = recent.insertRow();
      cell(row, item.module);
      cell(row, item.name || '#' + item.odooId);
      cell(row, new Date(item.writeDate).toLocaleString());
    }
    body.dataset.phase = 'dashboard';
  }

  /**
   * A bar chart on a canvas: one bar per item, heights proportional to the values (zero at
   * the bottom), the largest value on the axis. Bars are drawn on whole pixels in flat colours,
   * so a screenshot shows exactly the item's colour inside each bar.
   */
  function barChart(canvas, items, axisLabel) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 460;
    const height = canvas.clientHeight || 260;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const left = 70;
    const right = 10;
    const top = 22;
    const bottom = 30;
    const plotWidth = width - left - right;
    const plotHeight = height - top - bottom;
    const max = Math.max(1, ...items.map((i) => i.value));
    const baseline = top + plotHeight;

    ctx.font = '12px sans-serif';
    ctx.strokeStyle = GRID;
    ctx.fillStyle = INK;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const [value, y] of [[max, top], [0, baseline]]) {
      ctx.beginPath();
      ctx.moveTo(left, y + 0.5);
      ctx.lineTo(width - right, y + 0.5);
      ctx.stroke();
      ctx.fillText(axisLabel(value), left - 6, y);
    }

    const slot = plotWidth / Math.max(1, items.length);
    const barWidth = Math.max(2, Math.floor(slot * 0.6));
    ctx.textAlign = 'center';
    items.forEach((item, i) => {
      const x = Math.round(left + slot * i + (slot - barWidth) / 2);
      const h = Math.round((item.value / max) * plotHeight);
      ctx.fillStyle = item.colour;
      ctx.fillRect(x, baseline - h, barWidth, h);
      ctx.fillStyle = INK;
      ctx.textBaseline = 'top';
      ctx.fillText(item.label, x + barWidth / 2, baseline + 6, slot);
      if (item.text) {
        ctx.textBaseline = 'bottom';
        ctx.fillText(item.text, x + barWidth / 2, baseline - h - 3);
      }
    });
  }

  // ---------------------------------------------------------------- a run

  async function start(api, token, useStream, pollSeconds) {
    if (current) current.controller.abort(new DOMException('restarted', 'AbortError'));
    const controller = new AbortController();
    const run = {
      api: api.replace(/\/+$/, ''),
      token: token.trim(),
      controller,
      signal: controller.signal,
      pollMs: Math.max(500, Math.round((pollSeconds || 2) * 1000)),
      etag: null,
      notModified: 0,
      seen: [],
      fallbackNote: '',
    };
    current = run;
    body.dataset.phase = 'watching';
    body.dataset.seen = '';
    body.dataset.notModified = '0';
    $('progress-section').hidden = false;
    $('dashboard').hidden = true;
    showError('');
    showNote('');
    setTransport('', 'connecting…');
    try {
      const done = useStream && await followStream(run);
      if (!done) {
        showNote(run.fallbackNote);
        await pollUntilDone(run);
      }
      await showDashboard(run);
    } catch (e) {
      if (run.signal.aborted) return;
      body.dataset.phase = 'error';
      showError(e instanceof Fatal ? e.message : 'Unexpected failure: ' + e.message);
    }
  }

  $('connect-form').addEventListener('submit', (event) => {
    event.preventDefault();
    start($('api').value, $('token').value, !$('no-stream').checked, 2);
  });

  // #api=...&token=... starts at once (a test, or a link the web app builds). The fragment is
  // never sent to a server; it is wiped from the address bar so the token stays out of the
  // browser's history.
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get('api') && params.get('token')) {
    const useStream = params.get('stream') !== 'off';
    $('api').value = params.get('api');
    $('token').value = params.get('token');
    $('no-stream').checked = !useStream;
    history.replaceState(null, '', location.pathname + location.search);
    start(params.get('api'), params.get('token'), useStream, Number(params.get('poll')) || 2);
  }
})();
