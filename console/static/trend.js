// Follow-up trends: blood pressure, fasting glucose and adherence across visits (uPlot, vendored).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trend-data").textContent);
  var width = function () { return Math.min(1100, document.querySelector("main").clientWidth - 48); };
  var axes = [{ values: function (u, ticks) { return ticks.map(function (t) {
    var d = new Date(t * 1000); return (d.getMonth() + 1) + "-" + d.getDate(); }); } }, {}];
  function plot(id, series, values, opts) {
    var el = document.getElementById(id);
    if (!values.some(function (column) { return column.some(function (v) { return v !== null; }); })) {
      el.textContent = "暂无数据"; el.classList.add("empty"); return;
    }
    var options = Object.assign({ width: width(), height: 260, series: [{ label: "时间" }].concat(series), axes: axes,
      cursor: { drag: { x: false, y: false } } }, opts || {});
    el.plot = new uPlot(options, [data.t].concat(values), el);
  }
  plot("plot-bp", [
    { label: "收缩压", stroke: "#b00020", width: 3, points: { size: 9 }, spanGaps: true },
    { label: "舒张压", stroke: "#0b57d0", width: 3, points: { size: 9 }, spanGaps: true }
  ], [data.systolic, data.diastolic]);
  plot("plot-glucose", [{ label: "空腹血糖", stroke: "#6a1b9a", width: 3, points: { size: 9 }, spanGaps: true }], [data.glucose]);
  plot("plot-adherence", [{ label: "依从性", stroke: "#1b5e20", width: 3, points: { size: 9 }, spanGaps: true }],
       [data.adherence], { scales: { y: { range: [-0.2, 2.2] } } });
  document.body.dataset.plotted = "yes";
})();
