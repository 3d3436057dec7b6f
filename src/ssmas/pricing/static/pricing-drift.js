// Pricing drift page: global and per-feature drift score over time with uPlot (no inline script).
(function () {
  "use strict";
  var box = document.getElementById("drift-chart");
  if (!box || typeof uPlot === "undefined" || !window.ssmasCharts) { return; }
  var charts = window.ssmasCharts;
  function value(u, v) { return charts.formatNumber(v); }
  var palette = ["#1d2430", "#2f5bea", "#d9822b", "#1d8a4e", "#c0362c", "#7a4fd6", "#0f8b8d",
    "#b5179e", "#8c6d1f", "#5d6878", "#e36414", "#3a86ff", "#6a994e", "#9d0208", "#457b9d",
    "#f4a261", "#2a9d8f", "#264653"];

  function draw(feed) {
    if (!feed.t || feed.t.length < 1) { return; }
    var names = Object.keys(feed.features);
    // Show the five features drifting most in the latest report; the legend toggles the rest.
    var last = function (name) { var v = feed.features[name]; return v[v.length - 1] || 0; };
    var top = names.slice().sort(function (a, b) { return last(b) - last(a); }).slice(0, 5);
    // Null rows in the feed mark where the monitor did not run: the lines stop there.
    var series = [{}, { label: "global", stroke: palette[0], width: 3, value: value }];
    var data = [feed.t, feed.score];
    names.forEach(function (name, i) {
      series.push({ label: name, stroke: palette[(i + 1) % palette.length], width: 1, show: top.indexOf(name) >= 0, value: value });
      data.push(feed.features[name]);
    });
    box.innerHTML = "";
    new uPlot({
      width: Math.max(box.clientWidth, 280), height: 300,
      scales: { x: { time: true }, y: { range: [0, 1] } },
      series: series,
      axes: [charts.timeAxis(), charts.valueAxis({ label: "score (KS / TVD)", size: 60 })]
    }, data, box);
    box.setAttribute("data-points", String(feed.t.length));
  }

  fetch(box.getAttribute("data-source"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (feed) { if (feed) { draw(feed); } })
    .catch(function () { /* keep the empty state */ });
})();
