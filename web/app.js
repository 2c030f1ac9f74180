// app.js -- the page of flor serve: the runs table, the curves of one
// logged value (uPlot), a run's page; it reads /api/ (the first answers
// asked for by boot.js, the curves as binary arrays) and polls
// /api/runs so that a run that is recording appears and its curve grows.
'use strict';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b',
                 '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const POLL_MS = 2000; // how often the page asks /api/changes
// rows listed until "list all" is pressed (the curves show every run): the
// browser's layout of the table costs about 1.5 ms a row, on the same
// thread that reads the curves' answer and draws them (bench/README.md)
const TABLE_ROWS = 50;
const LEGEND_MAX = 20; // more runs than this: no legend (hover shows values in the title)

const state = {
  columns: [], rows: [],     // the merged table: one row per run
  sort: null, desc: false,
  filter: '',
  selected: new Set(),       // run ids whose curves are drawn
  chosen: false,             // whether the user changed the selection
  metric: null,
  plot: null,
  runsKey: '',
  allRows: false,            // whether the table lists every shown row
  focused: null,             // the plot's series nearest the cursor
};

const $ = (id) => document.getElementById(id);

async function api(path) {
  const res = await florTake(path); // boot.js may have asked already
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

// /api/series?format=f64 (docs/serve.md): "FLORF64\n", the name's length
// (uint64) and its UTF-8 bytes padded to a multiple of 8, then
// little-endian float64 words: the number of series, then for each its
// run, N, H, D, its N values, H hindsight ranges [first, last], D
// divergent positions.  The values stay in the answer's buffer: each
// series' y is a view of it.  ANSWER: florRead's promise.  Returns {name, series}.
const F64_MAGIC = 'FLORF64\n';
async function apiSeries(answer) {
  const {status, statusText, buf} = await answer;
  const bytes = new Uint8Array(buf);
  if (status !== 200) {
    let why = statusText;
    try {
      why = JSON.parse(new TextDecoder().decode(bytes)).error || why;
    } catch (e) { /* not JSON: the status says it */ }
    throw new Error(why);
  }
  const bad = () => new Error('series: malformed FLORF64 data');
  if (buf.byteLength < 16 || buf.byteLength % 8 ||
      String.fromCharCode(...bytes.subarray(0, 8)) !== F64_MAGIC) throw bad();
  const len = Number(new DataView(buf).getBigUint64(8, true));
  const start = 16 + Math.ceil(len / 8) * 8;
  if (start > buf.byteLength) throw bad();
  const name = new TextDecoder().decode(bytes.subarray(16, 16 + len));
  const w = new Float64Array(buf, start);
  const series = [];
  let k = 1;
  for (let s = 0; s < w[0]; s++) {
    const run = w[k], n = w[k + 1], h = w[k + 2], d = w[k + 3];
    k += 4;
    const y = w.subarray(k, k + n);
    k += n;
    const replay = [];
    for (let i = 0; i < h; i++, k += 2) replay.push([w[k], w[k + 1]]);
    const divergences = Array.from(w.subarray(k, k + d));
    k += d;
    series.push({run, y, replay, divergences});
  }
  if (k !== w.length) throw bad();
  return {name, series};
}

// A JSON cell as a number where it is one ("nan" and "inf" included).
function num(v) {
  if (typeof v === 'number') return v;
  if (v === 'nan') return NaN;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  return null;
}

function cellText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' && !Number.isInteger(v)) return String(+v.toPrecision(6));
  return String(v);
}

// ---- the runs table --------------------------------------------------------

// The rows of /api/runs (rank 0 of each run) joined with the dataframe's
// (one row per run, keyed by tstamp): the dataframe's columns, then the
// run's status, duration and code version.
function merge(runs, frame) {
  const ri = (n) => runs.columns.indexOf(n);
  const rank = frame.columns.indexOf('rank'), ts = frame.columns.indexOf('tstamp');
  const keep = frame.columns.map((c, i) => i).filter((i) => i !== rank);
  const byStamp = new Map();
  for (const row of frame.rows) if (rank < 0 || !row[rank]) byStamp.set(row[ts], row);
  const extra = ['status', 'seconds', 'checkpoints', 'replays', 'divergences', 'vid'];
  const columns = ['run', ...keep.map((i) => frame.columns[i]), ...extra];
  const rows = runs.rows.map((r) => {
    const f = byStamp.get(r[ri('tstamp')]);
    // a run too new for the dataframe still shows what /api/runs knows
    const own = keep.map((i) => (f ? f[i] : ri(frame.columns[i]) >= 0 ? r[ri(frame.columns[i])] : null));
    return [r[ri('run')], ...own, ...extra.map((c) => r[ri(c)])];
  });
  return {columns, rows};
}

function matches(row, filter) {
  if (!filter) return true;
  const eq = filter.indexOf('=');
  if (eq > 0) {
    const col = state.columns.indexOf(filter.slice(0, eq).trim());
    if (col >= 0) return cellText(row[col]) === filter.slice(eq + 1).trim();
  }
  const f = filter.toLowerCase();
  return row.some((v) => cellText(v).toLowerCase().includes(f));
}

function shownRows() {
  let rows = state.rows.filter((r) => matches(r, state.filter));
  if (state.sort !== null) {
    const c = state.sort, s = state.desc ? -1 : 1;
    rows = rows.slice().sort((a, b) => {
      const x = a[c], y = b[c];
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))) * s;
    });
  }
  return rows;
}

// the colours of flor plot (cli/cmd_plot.c): run R's is PALETTE[(R - 1) % 9]
function colorOf(run) {
  return PALETTE[(run - 1) % PALETTE.length];
}

function renderTable() {
  const head = $('runs').tHead, body = $('runs').tBodies[0];
  head.innerHTML = '';
  const tr = head.insertRow();
  tr.insertCell().outerHTML = '<th data-col="select"></th>';
  state.columns.forEach((c, i) => {
    const th = document.createElement('th');
    th.textContent = c;
    th.dataset.col = c;
    if (state.sort === i) th.className = state.desc ? 'sorted-desc' : 'sorted-asc';
    th.onclick = () => {
      state.desc = state.sort === i ? !state.desc : false;
      state.sort = i;
      renderTable();
    };
    tr.appendChild(th);
  });
  const rows = shownRows();
  const frag = document.createDocumentFragment();
  for (const r of state.allRows ? rows : rows.slice(0, TABLE_ROWS)) {
    const row = document.createElement('tr');
    row.dataset.run = r[0];
    const sel = document.createElement('td');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.className = 'select';
    box.checked = state.selected.has(r[0]);
    box.onchange = () => {
      state.chosen = true;
      box.checked ? state.selected.add(r[0]) : state.selected.delete(r[0]);
      loadSeries();
    };
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = colorOf(r[0]);
    sel.append(box, sw);
    row.appendChild(sel);
    r.forEach((v, i) => {
      const td = document.createElement('td');
      if (i === 0) {
        const a = document.createElement('a');
        a.href = '#/run/' + v;
        a.textContent = v;
        td.appendChild(a);
      } else {
        td.textContent = cellText(v);
      }
      if (typeof v === 'number') td.className = 'num';
      if (state.columns[i] === 'status') td.className = 'status-' + v;
      row.appendChild(td);
    });
    frag.appendChild(row);
  }
  body.replaceChildren(frag);
  const more = state.allRows ? 0 : Math.max(0, rows.length - TABLE_ROWS);
  $('table-info').textContent = `${rows.length} of ${state.rows.length} runs shown, ${state.selected.size} selected` +
      (more ? `; the table lists the first ${TABLE_ROWS}` : '');
  $('show-all').hidden = !more;
}

// ---- the plot -------------------------------------------------------------

// A run's line as uPlot's linear builder draws it (straight segments, a
// gap where a value is null; where several values fall in one pixel
// column, a vertical stroke from the first to the lowest, the highest
// and the last), with the pixel transform of the x and y scales hoisted
// out of the loop: uPlot's own builder calls two closures per value,
// which for 1,000 runs x 1,000 values is most of the draw.  Linear
// scales only (the page's are).
function linePath(u, si, i0, i1) {
  const xs = u.data[0], ys = u.data[si];
  const sx = u.scales.x, sy = u.scales[u.series[si].scale];
  const {left, top, width, height} = u.bbox;
  const kx = width / (sx.max - sx.min), ky = height / (sy.max - sy.min);
  const x0 = left - sx.min * kx, y0 = top + height + sy.min * ky;
  const p = new Path2D();
  let pen = false, col = null, first = 0, lo = 0, hi = 0, last = 0;
  const flush = () => {
    if (col === null) return;
    if (pen) p.lineTo(col, first);
    else p.moveTo(col, first);
    if (lo !== first || hi !== first || last !== first) {
      p.lineTo(col, lo);
      p.lineTo(col, hi);
      p.lineTo(col, last);
    }
    pen = true;
    col = null;
  };
  for (let i = i0; i <= i1; i++) {
    const y = ys[i];
    if (y === null || y === undefined) {
      flush();
      pen = false;
      continue;
    }
    const px = Math.round(x0 + xs[i] * kx), py = Math.round(y0 - y * ky);
    if (px !== col) {
      flush();
      col = px;
      first = lo = hi = last = py;
    } else {
      if (py < lo) lo = py;
      else if (py > hi) hi = py;
      last = py;
    }
  }
  flush();
  return {stroke: p, fill: null, clip: null, band: null, gaps: null, flags: 0};
}

// The uPlot data of /api/series: x is the loop position; each run is one
// series, split in two where a replay computed some of its values (solid:
// recorded, dashed: hindsight), and one series of points for divergences.
function plotData(res) {
  // past LEGEND_MAX lines, hairlines: the browser rasterizes 1,000 lines
  // 1.5 px wide in about a second here, 1 px wide in a tenth of that
  const width = res.series.length > LEGEND_MAX ? 1 : 1.5;
  const line = (label, color, more) => Object.assign({label, stroke: color, width, paths: linePath}, more);
  let n = 0;
  for (const s of res.series) n = Math.max(n, s.y.length);
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = i;
  const data = [xs];
  const series = [{label: 'position'}];
  let points = 0, hindsight = 0, divergences = 0;
  const divY = new Array(n).fill(null);
  for (const s of res.series) {
    const color = colorOf(s.run);
    let y = s.y; // a Float64Array: a view of the response
    let finite = true;
    for (let i = 0; i < y.length && finite; i++) finite = Number.isFinite(y[i]);
    if (!finite || y.length < n) { // NaN and inf as gaps, and the end of a shorter run
      y = Array.from(y, (v) => (Number.isFinite(v) ? v : null));
      while (y.length < n) y.push(null);
    }
    points += s.y.length;
    if (!s.replay.length && !s.divergences.length) { // the common case: as it came
      data.push(y);
      series.push(line('run ' + s.run, color));
      continue;
    }
    const replayed = new Uint8Array(y.length);
    for (const [a, b] of s.replay) for (let i = a; i <= b; i++) replayed[i] = 1;
    const rec = new Array(n).fill(null), rep = new Array(n).fill(null);
    let anyRec = false, anyRep = false;
    for (let i = 0; i < y.length; i++) {
      if (replayed[i]) {
        rep[i] = y[i];
        anyRep = true;
        hindsight++;
        if (i > 0 && !replayed[i - 1]) rep[i - 1] = y[i - 1];
      } else {
        rec[i] = y[i];
        anyRec = true;
      }
    }
    if (anyRec) {
      data.push(rec);
      series.push(line('run ' + s.run, color));
    }
    if (anyRep) {
      data.push(rep);
      series.push(line('run ' + s.run + ' (replay)', color, {dash: [6, 3]}));
    }
    for (const i of s.divergences) {
      divY[i] = y[i] === null ? 0 : y[i];
      divergences++;
    }
  }
  if (divergences) {
    data.push(divY);
    series.push({label: 'divergence', stroke: 'red', width: 2, paths: () => null,
                 points: {show: true, size: 10, stroke: 'red', fill: 'transparent', width: 2}});
  }
  return {data, series, runs: res.series.length, points, hindsight, divergences};
}

function drawPlot(res) {
  const chart = $('chart');
  const {data, series, runs, points, hindsight, divergences} = plotData(res);
  if (state.plot) state.plot.destroy();
  state.plot = null;
  chart.dataset.runs = runs;
  chart.dataset.points = points;
  chart.dataset.hindsight = hindsight;
  chart.dataset.divergences = divergences;
  chart.dataset.drawn = '0';
  $('plot-info').textContent = `${runs} runs, ${points} points` +
      (hindsight ? `, ${hindsight} hindsight values` : '') +
      (divergences ? `, ${divergences} divergences` : '');
  if (!runs) {
    chart.dataset.drawn = '1';
    return;
  }
  const opts = {
    width: Math.max(400, chart.clientWidth || 900),
    height: 400,
    title: res.name,
    scales: {x: {time: false}},
    axes: [{label: 'loop position'}, {label: res.name}],
    legend: {show: series.length <= LEGEND_MAX + 1},
    series,
    // the line nearest the cursor (within 30 px) is highlighted, and its
    // value under the cursor written below the plot, however many runs;
    // past LEGEND_MAX lines no dot on each line at the cursor (uPlot makes
    // an element per line for them, 1,000 elements laid out at the first draw)
    cursor: {focus: {prox: 30}, points: {show: series.length <= LEGEND_MAX + 1}},
    focus: {alpha: 0.3},
    hooks: {
      draw: [() => {
        chart.dataset.drawn = '1';
        // the time the curves are on the screen (for bench/serve_page_time.py):
        // the second animation frame after the draw, once the browser has
        // rasterized the lines drawn
        if (!window.florDrawnAt && !window.florDrawing) {
          window.florDrawing = true;
          requestAnimationFrame(() => requestAnimationFrame(() => {
            window.florDrawnAt = performance.now();
          }));
        }
      }],
      setSeries: [(u, i, o) => {
        if (o && o.focus !== undefined) state.focused = o.focus ? i : null;
        showHover(u);
      }],
      setCursor: [(u) => showHover(u)],
    },
  };
  state.plot = new uPlot(opts, data, chart);
}

// "run 2 at 14: 0.0625": the focused line's value at the cursor's position.
function showHover(u) {
  const i = state.focused, x = u.cursor.idx;
  const v = i !== null && i !== undefined && x !== null && x !== undefined ? u.data[i][x] : null;
  $('hover').textContent = v === null || v === undefined ? '' : `${u.series[i].label} at ${x}: ${v}`;
}

let seriesToken = 0;
async function loadSeries() {
  if (!state.metric) return;
  const token = ++seriesToken;
  const shown = new Set(shownRows().map((r) => r[0]));
  const runs = [...state.selected].filter((r) => shown.has(r)).sort((a, b) => a - b);
  let res = {name: state.metric, series: []};
  if (runs.length) {
    const all = runs.length === state.rows.length;
    res = await apiSeries(florRead(florSeriesPath(state.metric, all ? undefined : runs)));
  }
  if (token === seriesToken) drawPlot(res);
}

// The first curves, those boot.js asked for (every run's, of the name the
// server picks as florFirstMetric does), drawn as soon as they arrive,
// while the runs and the names are still being read and the table built.
// Returns the name drawn, or null (none logged yet, or the answer failed:
// loadSeries then asks again and says why).
async function drawFirst() {
  const answer = florTakeFirstSeries();
  if (!answer) return null;
  const token = ++seriesToken;
  try {
    const res = await apiSeries(answer);
    if (token !== seriesToken || !res.name || !res.series.length) return null;
    drawPlot(res);
    return res.name;
  } catch (e) {
    return null;
  }
}

async function loadNames() {
  const names = await api('api/names');
  const sel = $('metric');
  const have = names.rows.map((r) => r[0]);
  if (have.join('\n') !== [...sel.options].map((o) => o.value).join('\n')) {
    sel.replaceChildren(...names.rows.map((r) => {
      const o = document.createElement('option');
      o.value = r[0];
      o.textContent = r[0] + (r[1] ? ' (hindsight)' : '');
      return o;
    }));
  }
  if (!state.metric || !have.includes(state.metric))
    state.metric = florFirstMetric(have);
  if (state.metric) sel.value = state.metric;
}

// ---- loading and polling ---------------------------------------------------

// Reloads the runs when /api/changes says anything changed (a run, a status,
// a log, a checkpoint, a replay); returns whether it did.
async function loadRuns() {
  const key = JSON.stringify((await api('api/changes')).rows);
  if (key === state.runsKey) return false;
  state.runsKey = key;
  const runs = await api('api/runs');
  const frame = runs.rows.length ? await api('api/dataframe') : {columns: ['projid', 'tstamp', 'filename'], rows: []};
  const merged = merge(runs, frame);
  state.columns = merged.columns;
  state.rows = merged.rows;
  if (!state.chosen) state.selected = new Set(state.rows.map((r) => r[0]));
  if (state.rows.length) $('project').textContent = state.rows[0][state.columns.indexOf('projid')] || '';
  return true;
}

// Reloads what changed: the runs and the names (side by side at the first
// load, while the first curves are drawn; later the names only when the
// runs changed), then the table and the curves.
async function update() {
  let changed;
  if (!state.runsKey) {
    const first = drawFirst();
    [changed] = await Promise.all([loadRuns(), loadNames()]);
    renderTable();
    const drawn = await first;
    // they are the curves wanted: of the name chosen, every run selected
    if (drawn !== null && drawn === state.metric && !state.chosen) return;
    await loadSeries();
    return;
  } else if ((changed = await loadRuns())) {
    await loadNames();
  }
  if (!changed) return;
  const curves = loadSeries(); // the fetch goes on while the table is built
  renderTable();
  await curves;
}

async function refresh() {
  try {
    await update();
    $('live').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    $('live').textContent = 'error: ' + e.message;
  }
}

// ---- a run's page ----------------------------------------------------------

function fillTable(el, t) {
  el.innerHTML = '';
  if (!t.rows.length) {
    el.insertRow().insertCell().textContent = '(none)';
    return;
  }
  const h = el.createTHead().insertRow();
  for (const c of t.columns) {
    const th = document.createElement('th');
    th.textContent = c;
    h.appendChild(th);
  }
  const b = el.createTBody();
  for (const r of t.rows) {
    const tr = b.insertRow();
    for (const v of r) {
      const td = tr.insertCell();
      td.textContent = cellText(v);
      if (typeof v === 'number') td.className = 'num';
    }
  }
}

async function showRun(id) {
  $('runs-view').hidden = true;
  $('run-view').hidden = false;
  $('run-title').textContent = 'run ' + id;
  const run = await api('api/run?id=' + id);
  const row = run.run;
  const kv = {columns: ['field', 'value'], rows: row.rows.length ? row.columns.map((c, i) => [c, row.rows[0][i]]) : []};
  fillTable($('run-row'), kv);
  fillTable($('run-args'), run.args);
  fillTable($('run-checkpoints'), run.checkpoints);
  fillTable($('run-replays'), run.replays);
  fillTable($('run-divergences'), run.divergences);
  const other = $('diff-other');
  if (!other.value) other.value = id > 1 ? id - 1 : id;
  const diff = async () => {
    try {
      $('run-diff').textContent = (await api(`api/diff?a=${other.value}&b=${id}`)).text;
    } catch (e) {
      $('run-diff').textContent = e.message;
    }
  };
  other.onchange = diff;
  await diff();
  $('run-view').dataset.loaded = id;
}

function route() {
  const m = location.hash.match(/^#\/run\/(\d+)/);
  if (m) {
    $('diff-other').value = '';
    showRun(+m[1]);
  } else {
    $('run-view').hidden = true;
    $('runs-view').hidden = false;
    if (state.plot) state.plot.setSize({width: Math.max(400, $('chart').clientWidth), height: 400});
  }
}

$('metric').onchange = () => {
  state.metric = $('metric').value;
  loadSeries();
};
$('filter').oninput = () => {
  state.filter = $('filter').value;
  renderTable();
  loadSeries();
};
$('select-all').onclick = () => {
  state.chosen = true;
  for (const r of shownRows()) state.selected.add(r[0]);
  renderTable();
  loadSeries();
};
$('show-all').onclick = () => {
  state.allRows = true;
  renderTable();
};
$('select-none').onclick = () => {
  state.chosen = true;
  state.selected.clear();
  renderTable();
  loadSeries();
};
// the plot object, for the tests and the benchmark (tests/tools/serve_page.py)
window.florPlot = () => state.plot;
window.addEventListener('hashchange', route);
route();
refresh().then(() => setInterval(() => {
  if (!$('runs-view').hidden) refresh();
}, POLL_MS));
