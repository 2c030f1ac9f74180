// boot.js -- run from the page's head, before uPlot and app.js are even
// fetched: it asks at once for what the first draw needs (the curves of
// the name drawn first, the names, the runs, the dataframe), so that the
// server reads them while the browser loads and parses the rest.  app.js
// takes these answers (florTake, florTakeFirstSeries) instead of asking again.
'use strict';

const florEarly = new Map(); // path -> the promise of its Response, taken once

function florAsk(path) {
  const res = fetch(path, {credentials: 'same-origin'});
  florEarly.set(path, res);
  return res;
}

// The early answer to PATH, if one was asked for and not taken yet; else a fetch.
function florTake(path) {
  const res = florEarly.get(path);
  florEarly.delete(path);
  return res || fetch(path, {credentials: 'same-origin'});
}

// The name the address asks for (#...?name=NAME), or null.
function florWantedMetric() {
  return new URLSearchParams(location.hash.split('?')[1] || '').get('name');
}

// The name drawn first, of the names HAVE: the address's, else the first
// with "loss" in it, else the first.  (The server's first=1 picks the same:
// cli/serve_api.c, first_name.)
function florFirstMetric(have) {
  const want = florWantedMetric();
  return have.includes(want) ? want : have.find((n) => /loss/.test(n)) || have[0] || null;
}

// The address of the curves of NAME as binary arrays (docs/serve.md), of
// the runs RUNS (undefined: every run).
function florSeriesPath(name, runs) {
  return 'api/series?format=f64&name=' + encodeURIComponent(name) + (runs ? '&runs=' + runs.join(',') : '');
}

// The answer to PATH as bytes (the curves): a promise of {status,
// statusText, buf}, buf an ArrayBuffer of the body.
function florRead(path) {
  return fetch(path, {credentials: 'same-origin'}).then(async (res) => (
    {status: res.status, statusText: res.statusText, buf: await res.arrayBuffer()}));
}

// the curves of the name the server picks as florFirstMetric does
// (first=1), without waiting for the names (app.js draws them as soon as
// they arrive); then the small answers
let florFirstSeries = florRead('api/series?format=f64&first=1&name=' +
                               encodeURIComponent(florWantedMetric() || ''));
for (const path of ['api/changes', 'api/names', 'api/runs', 'api/dataframe']) florAsk(path);

// The answer of the curves asked for first, once; then null.
function florTakeFirstSeries() {
  const res = florFirstSeries;
  florFirstSeries = null;
  return res;
}
