/* Report charts with Apache ECharts (static/vendor/echarts): each .chart element carries
 * its data in data-chart as {type: "bar"|"hbar"|"pie", title, labels, values, max}. */
(function () {
  "use strict";
  if (!window.echarts) return;
  const BLUE = "#1f6fd1";
  const COLOURS = ["#1c8a4c", "#c53030", "#9aa5b1", BLUE, "#b7791f"];
  const charts = [];
  document.querySelectorAll(".chart[data-chart]").forEach((el) => {
    const spec = JSON.parse(el.dataset.chart);
    const chart = window.echarts.init(el, null, { renderer: "svg" });
    const title = { text: spec.title, left: "center", top: 6, textStyle: { fontSize: 14, fontWeight: 600 } };
    let option;
    if (spec.type === "pie") {
      option = {
        title, color: COLOURS, tooltip: { trigger: "item", formatter: "{b}：{c} 人（{d}%）" },
        legend: { bottom: 4 },
        series: [{ type: "pie", radius: ["38%", "64%"], top: 24, label: { formatter: "{b}\n{c} 人" },
          data: spec.labels.map((name, i) => ({ name, value: spec.values[i] })) }],
      };
    } else {
      const horizontal = spec.type === "hbar";
      const category = { type: "category", data: spec.labels, axisLabel: { fontSize: 11 } };
      const value = { type: "value", minInterval: 1, max: spec.max || null };
      option = {
        title, color: [BLUE], tooltip: { trigger: "axis" },
        grid: { left: horizontal ? 72 : 44, right: 24, top: 44, bottom: 30 },
        xAxis: horizontal ? value : category, yAxis: horizontal ? category : value,
        series: [{ type: "bar", data: spec.values, barMaxWidth: 36, label: { show: true, position: horizontal ? "right" : "top" } }],
      };
    }
    chart.setOption(option);
    el.dataset.rendered = "1";
    charts.push(chart);
  });
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
})();
