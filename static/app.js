// Hornet web UI glue: tabs, sortable stats, live charts (uPlot; the monitors' in
// monitor_charts.js) fed by the run's SSE stream
// (opened by htmx-ext-sse), run controls, start-form plan picker, history compare, the compare
// page's overlaid charts.
// No framework, no build step. Loaded last in <body>, so the DOM above is parsed.
(function () {
  "use strict";
  var doc = document;
  var $ = function (sel, root) { return (root || doc).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || doc).querySelectorAll(sel)); };
  doc.documentElement.classList.add("js");

  // Same rules as src/format.rs: rates with two decimals, failure ratios as a percentage with two.
  function fixed(v, d) {
    if (typeof v !== "number" || !isFinite(v)) return "—";
    var s = v.toFixed(d);
    return /^-[0.]*$/.test(s) ? s.slice(1) : s;
  }
  function fmtRps(v) { return fixed(v, 2); }
  function fmtPct(v) { var s = fixed(v, 2); return s === "—" ? s : s + "%"; }
  function setText(id, text) { var el = doc.getElementById(id); if (el) el.textContent = text; }
  function setState(state) {
    var el = doc.getElementById("run-state");
    if (!el || !state) return;
    el.textContent = state;
    el.className = "badge state-" + state;
  }

  // ---- Tabs: plain anchors; without JS every section shows, stacked. ----
  var tabLinks = $$(".tabs a[data-tab]");
  // With JS the sections lose their ids, so a shared #tab-… link opens the tab instead of
  // making the browser scroll past the header to it.
  var panels = {};
  $$("section.tab[id]").forEach(function (sec) {
    panels[sec.id] = sec;
    sec.setAttribute("data-panel", sec.id);
    sec.removeAttribute("id");
  });
  function showTab(id, push) {
    if (!panels[id]) id = tabLinks.length ? tabLinks[0].getAttribute("data-tab") : id;
    tabLinks.forEach(function (a) {
      var on = a.getAttribute("data-tab") === id;
      a.setAttribute("aria-selected", on ? "true" : "false");
      var sec = panels[a.getAttribute("data-tab")];
      if (sec) sec.classList.toggle("active", on);
    });
    if (push && history.replaceState) history.replaceState(null, "", "#" + id);
    if (id === "tab-charts") charts.show();
  }
  tabLinks.forEach(function (a) {
    a.setAttribute("role", "tab");
    a.addEventListener("click", function (e) {
      e.preventDefault();
      showTab(a.getAttribute("data-tab"), true);
    });
  });

  // ---- Sortable statistics table; the sort survives the table being swapped every second. ----
  var sort = { col: -1, dir: 1 };
  function cellValue(tr, col) {
    var td = tr.children[col];
    var t = td ? td.textContent.trim() : "";
    var n = parseFloat(t.replace(/,/g, ""));
    return isNaN(n) || !/^-?[\d.,]+%?$/.test(t) ? { n: null, t: t.toLowerCase() } : { n: n, t: t };
  }
  function applySort(table) {
    if (!table || sort.col < 0) return;
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows).filter(function (r) { return !r.classList.contains("empty"); });
    rows.sort(function (a, b) {
      var x = cellValue(a, sort.col), y = cellValue(b, sort.col);
      var c;
      if (x.n !== null && y.n !== null) c = x.n - y.n;
      else if (x.n !== null) c = 1; // numbers above dashes when descending
      else if (y.n !== null) c = -1;
      else c = x.t < y.t ? -1 : x.t > y.t ? 1 : 0;
      return c * sort.dir;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    $$("thead th", table).forEach(function (th, i) {
      if (i === sort.col) th.setAttribute("aria-sort", sort.dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
  }
  doc.addEventListener("click", function (e) {
    var th = e.target.closest && e.target.closest("table.sortable thead th");
    if (!th) return;
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    // Numbers sort biggest first on the first click, names A→Z.
    if (sort.col === col) sort.dir = -sort.dir;
    else sort = { col: col, dir: th.classList.contains("num") ? -1 : 1 };
    applySort(th.closest("table"));
  });

  // Keep the horizontal scroll of a swapped table (phones) across SSE swaps.
  var scrollLeft = {};
  doc.addEventListener("htmx:sseBeforeMessage", function (e) {
    var w = e.target && $(".table-wrap", e.target);
    if (w) scrollLeft[e.target.id] = w.scrollLeft;
  });
  doc.addEventListener("htmx:sseMessage", function (e) {
    var el = e.target;
    if (!el || !el.id) return;
    var w = $(".table-wrap", el);
    if (w && scrollLeft[el.id]) w.scrollLeft = scrollLeft[el.id];
    if (el.id === "stats") applySort($("table.sortable", el));
  });

  // ---- Charts ----
  var charts = (function () {
    var body = doc.body;
    var seriesEl = doc.getElementById("series-data");
    var started = parseInt(body.getAttribute("data-started-ms") || "0", 10) / 1000;
    var cols = { t: [], rps: [], fps: [], p50: [], p95: [], users: [] };
    var lastT = -1;
    var plots = [];
    function push(p) {
      if (!p || typeof p.t_s !== "number" || p.t_s <= lastT) return false;
      lastT = p.t_s;
      cols.t.push(started + p.t_s);
      cols.rps.push(p.rps);
      cols.fps.push(p.fail_per_s);
      cols.p50.push(p.p50_ms);
      cols.p95.push(p.p95_ms);
      cols.users.push(p.users);
      return true;
    }
    if (seriesEl) {
      try { (JSON.parse(seriesEl.textContent) || []).forEach(push); } catch (err) { /* no series */ }
    }
    var defs = [
      { id: "chart-rps", series: [["RPS", "#18a558", "rps"], ["Failures/s", "#c9302c", "fps"]] },
      { id: "chart-latency", series: [["Median (ms)", "#e8a317", "p50"], ["95%ile (ms)", "#7b4fd6", "p95"]] },
      { id: "chart-users", series: [["Users", "#0b6bcb", "users"]] }
    ];
    function data(def) { return [cols.t].concat(def.series.map(function (s) { return cols[s[2]]; })); }
    function size(el) { return { width: Math.max(el.clientWidth, 200), height: el.clientWidth < 500 ? 200 : 260 }; }
    function create() {
      if (plots.length || typeof uPlot === "undefined") return;
      defs.forEach(function (def) {
        var el = doc.getElementById(def.id);
        if (!el) return;
        var sz = size(el);
        var opts = {
          width: sz.width, height: sz.height,
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
          axes: [{}, { size: 56 }],
          series: [{}].concat(def.series.map(function (s) {
            return { label: s[0], stroke: s[1], width: 2, points: { show: false } };
          }))
        };
        plots.push({ def: def, el: el, plot: new uPlot(opts, data(def), el) });
      });
    }
    // The target's own metrics (static/monitor_charts.js), under the load charts.
    var monitorRoot = doc.getElementById("monitor-charts");
    var monitorEl = doc.getElementById("monitor-data");
    var monitors = null;
    if (monitorRoot && typeof window.HornetMonitors === "function") {
      var initial = null;
      try { initial = monitorEl ? JSON.parse(monitorEl.textContent) : null; } catch (err) { initial = null; }
      monitors = window.HornetMonitors(monitorRoot, started, initial);
    }
    function show() {
      create();
      plots.forEach(function (p) { p.plot.setSize(size(p.el)); });
      if (monitors) monitors.show();
    }
    window.addEventListener("resize", function () {
      if (plots.length && plots[0].el.offsetParent !== null) show();
    });
    return {
      show: show,
      add: function (p) {
        if (push(p)) plots.forEach(function (x) { x.plot.setData(data(x.def)); });
      },
      addMonitors: function (list) { if (monitors) monitors.add(list); }
    };
  })();

  // ---- Live updates: htmx-ext-sse owns the EventSource; we listen on it for tick/done. ----
  function onTick(ev) {
    var d;
    try { d = JSON.parse(ev.data); } catch (err) { return; }
    setState(d.state);
    if (typeof d.users === "number") setText("run-users", String(d.users));
    if (typeof d.rps === "number") setText("run-rps", fmtRps(d.rps));
    if (typeof d.fail_pct === "number") setText("run-fail", fmtPct(d.fail_pct));
    if (typeof d.dropped === "number") setText("run-dropped", String(d.dropped));
    if (typeof d.lag === "string") {
      setText("run-lag", d.lag);
      var lag = doc.getElementById("run-lag-stat");
      if (lag) lag.hidden = false;
    }
    if (typeof d.warnings === "number") {
      // a warning (generator saturated, history write failed) shows on the Errors tab at once
      setText("warnings-count", String(d.warnings));
      var badge = doc.getElementById("warnings-count");
      if (badge) badge.hidden = d.warnings === 0;
    }
    if (d.point) charts.add(d.point);
  }
  function onMonitor(ev) {
    var d;
    try { d = JSON.parse(ev.data); } catch (err) { return; }
    if (d && d.series) charts.addMonitors(d.series);
  }
  function onDone(ev) {
    var d = {};
    try { d = JSON.parse(ev.data) || {}; } catch (err) { /* keep the page as is */ }
    setState(d.state || "stopped");
    var c = doc.getElementById("controls");
    if (c) c.parentNode.removeChild(c);
    doc.body.setAttribute("data-live", "false");
    // sse-close="done" on <body> makes htmx-ext-sse close the stream (no reconnect).
  }
  doc.addEventListener("htmx:sseOpen", function (e) {
    var src = e.detail && e.detail.source;
    if (!src || src.hornetWired) return;
    src.hornetWired = true;
    src.addEventListener("tick", onTick);
    src.addEventListener("monitor", onMonitor);
    src.addEventListener("done", onDone);
  });

  // ---- Run controls ----
  function errorText(res) {
    return res.json().then(function (j) {
      return (j && j.error && j.error.message) || res.status + " " + res.statusText;
    }, function () { return res.status + " " + res.statusText; });
  }
  var editForm = doc.getElementById("edit-form");
  if (editForm) {
    editForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var out = doc.getElementById("edit-status");
      var body = {
        users: parseInt(editForm.elements.users.value, 10),
        spawn_rate: parseFloat(editForm.elements.spawn_rate.value)
      };
      out.textContent = "Saving…";
      fetch(editForm.getAttribute("data-url"), {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body)
      }).then(function (res) {
        if (res.ok) { out.textContent = "Updated"; return; }
        return errorText(res).then(function (m) { out.textContent = m; });
      }, function () { out.textContent = "Network error"; });
    });
  }
  var stopForm = doc.getElementById("stop-form");
  if (stopForm) {
    stopForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var btn = doc.getElementById("stop");
      btn.disabled = true;
      btn.textContent = "Stopping…";
      fetch(stopForm.getAttribute("action"), { method: "POST" }).then(function (res) {
        if (res.ok) { setState("stopping"); return; }
        return errorText(res).then(function (m) {
          btn.disabled = false;
          btn.textContent = "Stop";
          setText("edit-status", m);
        });
      }, function () { btn.disabled = false; btn.textContent = "Stop"; });
    });
  }

  // ---- Import a plan: preview (POST /api/import), then save (POST /api/plans). ----
  var importForm = doc.getElementById("import-form");
  if (importForm) {
    var importError = doc.getElementById("import-error");
    var importResult = doc.getElementById("import-result");
    var showImportError = function (m) {
      importError.textContent = m;
      importError.hidden = !m;
    };
    doc.getElementById("import-upload").addEventListener("change", function (e) {
      var file = e.target.files && e.target.files[0];
      if (!file) return;
      file.text().then(function (t) {
        doc.getElementById("import-content").value = t;
        var name = doc.getElementById("import-file");
        if (!name.value) name.value = file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]/g, "_") + ".toml";
      });
    });
    importForm.addEventListener("submit", function (e) {
      e.preventDefault();
      showImportError("");
      var body = {
        kind: doc.getElementById("import-kind").value,
        content: doc.getElementById("import-content").value,
        host: doc.getElementById("import-host").value,
        name: doc.getElementById("import-name").value,
        keep_static: doc.getElementById("import-keep-static").checked
      };
      var upload = doc.getElementById("import-upload");
      if (upload.files && upload.files[0]) body.source = upload.files[0].name;
      fetch("/api/import", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body)
      }).then(function (res) {
        if (!res.ok) return errorText(res).then(function (m) { importResult.hidden = true; showImportError(m); });
        return res.json().then(function (j) {
          var check = doc.getElementById("import-check");
          var summary = doc.getElementById("import-summary");
          if (j.check.ok) {
            check.textContent = "hornet check: OK" + (j.env_vars.length ? " · secrets come from the environment: " + j.env_vars.join(", ") : "");
            summary.textContent = j.check.summary;
          } else {
            check.textContent = "hornet check: failed";
            summary.textContent = j.check.errors.join("\n");
          }
          check.className = j.check.ok ? "check-ok" : "check-failed";
          summary.hidden = false;
          doc.getElementById("import-plan").value = j.plan;
          importResult.hidden = false;
        });
      }, function () { showImportError("Network error"); });
    });
    doc.getElementById("import-save").addEventListener("submit", function (e) {
      e.preventDefault();
      showImportError("");
      fetch("/api/plans", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          file: doc.getElementById("import-file").value,
          content: doc.getElementById("import-plan").value
        })
      }).then(function (res) {
        if (!res.ok) return errorText(res).then(showImportError);
        return res.json().then(function (j) { window.location.assign(j.page); });
      }, function () { showImportError("Network error"); });
    });
  }

  // ---- Start form: one class picker per plan, only the selected one enabled. ----
  var planSel = doc.getElementById("plan");
  if (planSel) {
    var hostInput = doc.getElementById("host");
    var prevHost = planSel.selectedOptions[0] ? planSel.selectedOptions[0].getAttribute("data-host") : "";
    planSel.addEventListener("change", function () {
      $$("fieldset.classes").forEach(function (fs) {
        var on = fs.getAttribute("data-plan") === planSel.value;
        fs.hidden = !on;
        fs.disabled = !on;
      });
      var host = planSel.selectedOptions[0].getAttribute("data-host") || "";
      // Follow the plan's host unless the user typed another one.
      if (hostInput && (hostInput.value === prevHost || hostInput.value === "")) hostInput.value = host;
      prevHost = host;
    });
  }

  // ---- History: pick two runs to compare (the older one is the base). ----
  var cmpForm = doc.getElementById("compare-form");
  if (cmpForm) {
    var cmpBtn = doc.getElementById("compare");
    var picks = function () { return $$('input[name="run"][form="compare-form"]').filter(function (c) { return c.checked; }); };
    var refresh = function () { cmpBtn.disabled = picks().length !== 2; };
    doc.addEventListener("change", function (e) { if (e.target.name === "run") refresh(); });
    refresh();
    cmpForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var p = picks();
      if (p.length !== 2) return;
      // The table is newest first: the second pick is the older run.
      location.href = "/runs/compare?base=" + encodeURIComponent(p[1].value) + "&head=" + encodeURIComponent(p[0].value);
    });
  }

  // ---- Compare page: both runs' series overlaid, x = seconds since each run's start. ----
  var cmpData = doc.getElementById("compare-data");
  if (cmpData && typeof uPlot !== "undefined") {
    var runs = { base: [], head: [] };
    try { runs = JSON.parse(cmpData.textContent) || runs; } catch (err) { /* no series */ }
    var ts = {};
    [runs.base || [], runs.head || []].forEach(function (pts) { pts.forEach(function (p) { ts[p.t_s] = true; }); });
    var xs = Object.keys(ts).map(Number).sort(function (a, b) { return a - b; });
    // uPlot wants one x array: each run's value at that second, or null where it has none.
    var column = function (pts, key) {
      var at = {};
      pts.forEach(function (p) { at[p.t_s] = p[key]; });
      return xs.map(function (t) { return t in at ? at[t] : null; });
    };
    [["cmp-rps", "rps", "RPS"], ["cmp-p95", "p95_ms", "p95 (ms)"], ["cmp-p50", "p50_ms", "p50 (ms)"], ["cmp-users", "users", "Users"]].forEach(function (def) {
      var el = doc.getElementById(def[0]);
      if (!el) return;
      var width = Math.max(el.clientWidth, 200);
      new uPlot({
        width: width, height: width < 500 ? 200 : 260,
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
        axes: [{ label: "seconds since the start", incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600] }, { size: 56 }],
        series: [{ label: "t (s)" },
          { label: "base " + def[2], stroke: "#0b6bcb", width: 2, dash: [6, 4], points: { show: false }, spanGaps: true },
          { label: "head " + def[2], stroke: "#c9302c", width: 2, points: { show: false }, spanGaps: true }]
      }, [xs, column(runs.base || [], def[1]), column(runs.head || [], def[1])], el);
    });
  }

  // ---- Compare page: monitor series both runs read, one chart each, base dashed. ----
  var cmpMonitors = doc.getElementById("compare-monitors");
  var cmpMonitorData = doc.getElementById("compare-monitor-data");
  if (cmpMonitors && cmpMonitorData && typeof uPlot !== "undefined") {
    var both = {};
    try { both = JSON.parse(cmpMonitorData.textContent) || {}; } catch (err) { both = {}; }
    var baseSeries = (both.base && both.base.series) || [];
    var headSeries = (both.head && both.head.series) || [];
    var fmtMonitor = window.HornetMonitorFormat || function (u, v) { return String(v); };
    baseSeries.forEach(function (b) {
      var h = headSeries.filter(function (s) { return s.name === b.name; })[0];
      if (!h) return;
      var fig = doc.createElement("figure");
      var cap = doc.createElement("figcaption");
      cap.textContent = b.name;
      var el = doc.createElement("div");
      el.className = "chart";
      el.setAttribute("data-series", b.name);
      fig.appendChild(cap);
      fig.appendChild(el);
      cmpMonitors.appendChild(fig);
      var ts = {};
      b.points.concat(h.points).forEach(function (p) { ts[p[0]] = true; });
      var xs = Object.keys(ts).map(Number).sort(function (x, y) { return x - y; });
      var col = function (pts) {
        var at = {};
        pts.forEach(function (p) { at[p[0]] = p[1]; });
        return xs.map(function (t) { return t in at ? at[t] : null; });
      };
      var unit = h.unit;
      var width = Math.max(el.clientWidth, 200);
      new uPlot({
        width: width, height: width < 500 ? 200 : 260,
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false } },
        axes: [{ label: "seconds since the start" }, { size: 72, values: function (u, vals) { return vals.map(function (v) { return fmtMonitor(unit, v); }); } }],
        series: [{ label: "t (s)" },
          { label: "base", stroke: "#0b6bcb", width: 2, dash: [6, 4], points: { show: false }, spanGaps: true, value: function (u, v) { return fmtMonitor(unit, v); } },
          { label: "head", stroke: "#c9302c", width: 2, points: { show: false }, spanGaps: true, value: function (u, v) { return fmtMonitor(unit, v); } }]
      }, [xs, col(b.points), col(h.points)], el);
    });
  }

  if (tabLinks.length) {
    showTab((location.hash || "").slice(1) || "tab-stats", false);
    window.addEventListener("hashchange", function () { showTab(location.hash.slice(1), false); });
  }
})();
