// Shared chart settings for uPlot: readable numbers, time labels that do not overlap, gaps.
// Loaded before a page's own chart script; exposes window.ssmasCharts.
(function () {
  "use strict";
  var DIGITS = 4;
  var whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  var fine = new Intl.NumberFormat("en-US", { maximumFractionDigits: 8 });

  // 160322.4 -> "160,322"; 0.803412 -> "0.8034"; null -> "—". The same rules as the server's
  // ssmas.web.charts.format_number: no scientific notation between 1e-6 and 1e15.
  function formatNumber(value) {
    if (value === null || value === undefined || Number.isNaN(value)) { return "—"; }
    var size = Math.abs(value);
    if (size === 0) { return "0"; }
    if (!Number.isFinite(value)) { return value > 0 ? "∞" : "-∞"; }
    if (size >= 1e15 || size < 1e-6) { return value.toExponential(DIGITS - 1); }
    if (size >= 1000) { return whole.format(value); }
    return fine.format(Number(value.toPrecision(DIGITS)));
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // 24-hour local time; the date only where it changes, or when ticks are days apart.
  function timeLabels(u, splits, axisIdx, foundSpace, foundIncr) {
    var previousDay = null;
    return splits.map(function (s) {
      var d = new Date(s * 1000);
      var day = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
      var time = pad(d.getHours()) + ":" + pad(d.getMinutes());
      if (foundIncr < 60) { time += ":" + pad(d.getSeconds()); }
      var label = foundIncr >= 86400 ? day : (previousDay !== null && day !== previousDay ? day + "\n" + time : time);
      previousDay = day;
      return label;
    });
  }

  // The x axis: a label needs about 80 px, so uPlot picks fewer ticks on a narrow chart.
  function timeAxis() {
    return { space: 80, values: timeLabels };
  }

  // A y axis whose tick labels use formatNumber (thousands separators, no 1.6e+05).
  function valueAxis(extra) {
    var axis = { values: function (u, splits) { return splits.map(formatNumber); } };
    Object.keys(extra || {}).forEach(function (k) { axis[k] = extra[k]; });
    return axis;
  }

  window.ssmasCharts = { formatNumber: formatNumber, timeAxis: timeAxis, valueAxis: valueAxis };
})();
