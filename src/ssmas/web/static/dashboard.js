// Platform page: draws request rate and mean latency with uPlot, polling the JSON feed every 5 s.
(function () {
  "use strict";
  var box = document.getElementById("traffic-chart");
  if (!box || typeof uPlot === "undefined" || !window.ssmasCharts) { return; }
  var charts = window.ssmasCharts;
  var source = box.getAttribute("data-source");
  var plot = null;

  function size() {
    return { width: Math.max(box.clientWidth, 280), height: 240 };
  }

  function options() {
    var s = size();
    return {
      width: s.width,
      height: s.height,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      scales: {
        // at least a minute of time axis, so one or two points do not stretch over years
        x: { time: true, range: function (u, min, max) { return [Math.min(min, max - 60), max]; } },
        rps: { range: function (u, min, max) { return [0, Math.max(max, 1) * 1.1]; } },
        ms: { range: function (u, min, max) { return [0, Math.max(max, 1) * 1.1]; } }
      },
      // The feed has a null row where nobody sampled (and a null latency where no request
      // came): the lines stop there instead of joining the two sides with a straight segment.
      series: [
        {},
        { label: "requests/s", scale: "rps", stroke: "#2f5bea", width: 2, fill: "rgba(47,91,234,0.08)", spanGaps: false },
        { label: "mean latency (ms)", scale: "ms", stroke: "#d9822b", width: 2, spanGaps: false }
      ],
      axes: [
        charts.timeAxis(),
        charts.valueAxis({ scale: "rps", label: "req/s", size: 60 }),
        charts.valueAxis({ scale: "ms", side: 1, label: "ms", size: 60, grid: { show: false } })
      ]
    };
  }

  function draw(feed) {
    var data = [feed.t, feed.rps, feed.latency_ms];
    // A single point gives uPlot no time span to draw, so wait for two.
    if (feed.t.length < 2) {
      box.innerHTML = '<div class="empty">' +
        (feed.available ? "Collecting samples: the chart appears after a few seconds." : "No HTTP request metrics are registered yet.") +
        "</div>";
      plot = null;
      return;
    }
    if (plot === null) {
      box.innerHTML = "";
      plot = new uPlot(options(), data, box);
    } else {
      plot.setData(data);
    }
    box.setAttribute("data-points", String(feed.t.length));
  }

  function poll() {
    fetch(source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (feed) { if (feed) { draw(feed); } })
      .catch(function () { /* the next poll retries */ });
  }

  window.addEventListener("resize", function () { if (plot) { plot.setSize(size()); } });
  // The page load took the first sample; two more just over a second apart (the sampler's
  // minimum interval) give the two points the chart needs, then it follows the 5 s rhythm.
  setTimeout(poll, 1100);
  setTimeout(poll, 2300);
  setInterval(poll, 5000);
})();
