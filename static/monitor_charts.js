// Monitor charts (the run page, live and stored, and the offline HTML report): one uPlot chart
// per unit, the series of that unit overlaid, on the run's time axis (epoch seconds, like the
// load charts above them). Values are formatted as src/format.rs does (fmt_monitor).
// window.HornetMonitors(root, startedS, data) → { add(series), show() }; data is
// { series: [{ name, unit, points: [[t_s, value], ...] }] }.
(function () {
  "use strict";
  var TITLES = {
    bytes: "Memory and sizes",
    percent: "CPU and percentages",
    per_second: "Rates (per second)",
    count: "Counts and values"
  };
  var UNITS = ["bytes", "percent", "per_second", "count"];
  var COLORS = ["#0b6bcb", "#c9302c", "#18a558", "#e8a317", "#7b4fd6", "#c06c84", "#2a9d8f", "#8d6e63"];
  function trimmed(v, d) {
    var s = v.toFixed(d);
    if (s.indexOf(".") >= 0) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s === "-0" ? "0" : s;
  }
  function fmtSize(v) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0, a = Math.abs(v);
    while (a >= 1023.5 && i < units.length - 1) { a /= 1024; i++; }
    if (i === 0) return (v < 0 ? "-" : "") + trimmed(a, 0) + " B";
    return (v < 0 ? "-" : "") + a.toFixed(a < 9.995 ? 2 : a < 99.95 ? 1 : 0) + " " + units[i];
  }
  function fmt(unit, v) {
    if (v === null || typeof v !== "number" || !isFinite(v)) return "—";
    if (unit === "bytes") return fmtSize(v);
    if (unit === "percent") return trimmed(v, 1) + "%";
    if (unit === "per_second") return trimmed(v, 2) + "/s";
    return trimmed(v, 2);
  }

  window.HornetMonitorFormat = fmt;
  window.HornetMonitors = function (root, started, initial) {
    var series = []; // { name, unit, points: [[t, v]] }
    var groups = {}; // unit → { fig, el, plot, names }
    function find(name) {
      for (var i = 0; i < series.length; i++) if (series[i].name === name) return series[i];
      return null;
    }
    function add(list) {
      (list || []).forEach(function (s) {
        var mine = find(s.name);
        if (!mine) { mine = { name: s.name, unit: s.unit, points: [] }; series.push(mine); }
        mine.unit = s.unit;
        (s.points || []).forEach(function (p) {
          var last = mine.points[mine.points.length - 1];
          if (!last || p[0] > last[0]) mine.points.push(p);
        });
      });
    }
    function columns(names) {
      var ts = {};
      var of = names.map(find);
      of.forEach(function (s) { s.points.forEach(function (p) { ts[p[0]] = true; }); });
      var xs = Object.keys(ts).map(Number).sort(function (a, b) { return a - b; });
      var cols = of.map(function (s) {
        var at = {};
        s.points.forEach(function (p) { at[p[0]] = p[1]; });
        return xs.map(function (t) { return t in at ? at[t] : null; });
      });
      return [xs.map(function (t) { return started + t; })].concat(cols);
    }
    function size(el) { return { width: Math.max(el.clientWidth, 200), height: el.clientWidth < 500 ? 200 : 260 }; }
    function draw() {
      // the box around the charts (with its heading) shows once a series has a point
      root.parentNode.hidden = series.every(function (s) { return !s.points.length; });
      if (typeof uPlot === "undefined") return;
      UNITS.forEach(function (unit) {
        var names = series.filter(function (s) { return s.unit === unit && s.points.length; })
          .map(function (s) { return s.name; });
        if (!names.length) return;
        var g = groups[unit];
        if (!g) {
          var fig = document.createElement("figure");
          fig.setAttribute("data-unit", unit);
          var cap = document.createElement("figcaption");
          cap.textContent = TITLES[unit];
          var el = document.createElement("div");
          el.className = "chart";
          el.id = "monitor-chart-" + unit;
          fig.appendChild(cap);
          fig.appendChild(el);
          root.appendChild(fig);
          g = groups[unit] = { fig: fig, el: el, plot: null, names: [] };
        }
        var total = names.reduce(function (n, name) { return n + find(name).points.length; }, 0);
        g.el.setAttribute("data-series", names.join(" "));
        g.el.setAttribute("data-points", String(total));
        if (g.el.offsetParent === null && !g.plot) return; // hidden tab: drawn on show()
        var data = columns(names);
        if (g.plot && g.names.join("\n") === names.join("\n")) {
          g.plot.setData(data);
          return;
        }
        if (g.plot) g.plot.destroy();
        g.names = names;
        var sz = size(g.el);
        g.plot = new uPlot({
          width: sz.width, height: sz.height,
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.1 : 1]; } } },
          axes: [{}, { size: 72, values: function (u, vals) { return vals.map(function (v) { return fmt(unit, v); }); } }],
          series: [{}].concat(names.map(function (name, i) {
            return {
              label: name, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false,
              points: { show: data[0].length < 3 },
              value: function (u, v) { return fmt(unit, v); }
            };
          }))
        }, data, g.el);
      });
    }
    add(initial && initial.series);
    return {
      add: function (list) { add(list); draw(); },
      show: function () {
        draw();
        Object.keys(groups).forEach(function (u) { var g = groups[u]; if (g.plot) g.plot.setSize(size(g.el)); });
      },
      fmt: fmt
    };
  };
})();
