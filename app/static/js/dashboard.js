// The dashboard's charts (ECharts, served from static/vendor/echarts): each [data-chart] element
// fetches its figures from data-src (JSON from /dashboard/data/<metric>, labels already in the
// user's language) and draws them; a click on a bar or slice opens data-drill plus the clicked key.
// No inline scripts (CSP): the page passes its words in data attributes.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.echarts) { return; }
  var words = JSON.parse(root.getAttribute("data-words") || "{}");
  var charts = [];

  function drillTo(el, params) {
    var url = new URL(el.getAttribute("data-drill"), window.location.href);
    Object.keys(params).forEach(function (k) { if (params[k] !== undefined && params[k] !== null) { url.searchParams.set(k, params[k]); } });
    window.location.href = url.toString();
  }

  function kpi(name, text) {
    var el = root.querySelector('[data-kpi="' + name + '"]');
    if (el) { el.textContent = text; }
  }

  function fmt(value, suffix) { return value === null || value === undefined ? "–" : String(value) + (suffix || ""); }

  function empty(el) {
    el.classList.add("d-flex", "align-items-center", "justify-content-center", "text-body-secondary");
    el.textContent = words.noData;
  }

  // Remember where the first bar was drawn (for the browser test and keyboard-less checks).
  function markFirst(el, chart, seriesIndex, value) {
    chart.on("finished", function () {
      var point = chart.convertToPixel({ seriesIndex: seriesIndex }, value);
      if (point) { el.setAttribute("data-first-point", Math.round(point[0]) + "," + Math.round(point[1])); }
      el.setAttribute("data-ready", "1");
    });
  }

  function barGrid() { return { left: 48, right: 48, top: 40, bottom: 70, containLabel: true }; }

  function pareto(el, chart, data) {
    var items = data.items;
    if (!items.length) { empty(el); el.setAttribute("data-ready", "1"); return; }
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: barGrid(),
      xAxis: { type: "category", data: items.map(function (i) { return i.label; }), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: [{ type: "value", name: words.cases, minInterval: 1 }, { type: "value", name: "%", max: 100 }],
      series: [
        { name: words.cases, type: "bar", data: items.map(function (i) { return i.count; }) },
        { name: words.cumulative, type: "line", yAxisIndex: 1, data: items.map(function (i) { return i.cumulative; }) }
      ]
    });
    chart.on("click", function (p) { if (p.seriesType === "bar") { drillTo(el, { key: items[p.dataIndex].key }); } });
    markFirst(el, chart, 0, [0, items[0].count]);
  }

  function volumes(el, chart, data) {
    var by = root.querySelector("[data-volume-by].active");
    var dim = by ? by.getAttribute("data-volume-by") : "channel";
    var series = data.dimensions[dim].series;
    if (!series.length) { empty(el); el.setAttribute("data-ready", "1"); return; }
    kpi("cases", fmt(data.total));
    kpi("cases-previous", words.previous + ": " + fmt(data.previous_total));
    chart.setOption({
      tooltip: { trigger: "axis" }, legend: { top: 0, type: "scroll" }, grid: barGrid(),
      xAxis: { type: "category", data: data.buckets },
      yAxis: { type: "value", name: words.cases, minInterval: 1 },
      series: series.map(function (s) { return { name: s.label, type: "bar", stack: "v", data: s.counts }; })
    }, true);
    chart.off("click");
    chart.on("click", function (p) {
      drillTo(el, { by: dim, key: series[p.seriesIndex].key, bucket: data.buckets[p.dataIndex] });
    });
  }

  function grouped(el, chart, groups, columns, yName, onClick) {
    chart.setOption({
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: barGrid(),
      xAxis: { type: "category", data: groups.map(function (g) { return g.label; }), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: "value", name: yName },
      series: columns.map(function (c) {
        return { name: c.label, type: "bar", data: groups.map(function (g) { return c.value(g); }) };
      })
    });
    if (onClick) { chart.on("click", function (p) { onClick(groups[p.dataIndex]); }); }
  }

  function cycleTimes(el, chart, data) {
    var groups = data.stages.map(function (s) { return { key: s.key, label: s.label, m: s.median_hours, p: s.p90_hours, dept: false }; })
      .concat(data.departments.map(function (d) { return { key: d.key, label: d.label, m: d.median_hours, p: d.p90_hours, dept: true }; }));
    if (!groups.length) { empty(el); return; }
    grouped(el, chart, groups, [
      { label: words.median, value: function (g) { return g.m; } },
      { label: words.p90, value: function (g) { return g.p; } }
    ], "h", function (g) { if (g.dept) { drillTo(el, { key: g.key }); } });
  }

  function onTime(el, chart, data) {
    var c = data.customer;
    kpi("customer-clock", data.kinds.slice(2).map(function (k) {
      return k.label + ": " + fmt(c[k.key].rate, "%") + " (" + c[k.key].on_time + "/" + (c[k.key].on_time + c[k.key].late) + ")";
    }).join(" · "));
    if (!data.departments.length) { empty(el); return; }
    grouped(el, chart, data.departments, data.kinds.map(function (k) {
      return { label: k.label, value: function (d) { return d[k.key].rate; } };
    }), "%", function (d) { drillTo(el, { key: d.key }); });
  }

  function ageing(el, chart, data) {
    var groups = data.buckets.map(function (b) { return { key: b.key, label: b.label, n: b.count, chart: "ageing" }; });
    var overdue = data.overdue.map(function (o) { return { key: o.key, label: o.label, n: o.count, chart: "overdue" }; });
    chart.setOption({
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: barGrid(),
      xAxis: { type: "category", data: groups.concat(overdue).map(function (g) { return g.label; }), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: "value", name: words.cases, minInterval: 1 },
      series: [
        { name: words.openCases, type: "bar", stack: "a", data: groups.map(function (g) { return g.n; }).concat(overdue.map(function () { return null; })) },
        { name: words.overdue, type: "bar", stack: "a", data: groups.map(function () { return null; }).concat(overdue.map(function (g) { return g.n; })) }
      ]
    });
    var all = groups.concat(overdue);
    chart.on("click", function (p) { var g = all[p.dataIndex]; drillTo(el, { chart: g.chart, key: g.key }); });
  }

  function satisfaction(el, chart, data) {
    kpi("index", fmt(data.index));
    kpi("index-change", data.change === null ? words.previous + ": " + fmt(data.previous_index)
      : (data.change > 0 ? "+" : "") + data.change + " (" + words.previous + ": " + fmt(data.previous_index) + ")");
    kpi("response", fmt(data.response_rate, "%") + " (" + data.responses + "/" + data.closed + ")");
    if (!data.responses) { empty(el); return; }
    chart.setOption({
      tooltip: { trigger: "item" }, legend: { top: 0 },
      series: [{ type: "pie", radius: ["35%", "65%"], top: 30,
        data: data.levels.map(function (l) { return { name: l.label, value: l.count, key: l.key }; }) }]
    });
    chart.on("click", function (p) { drillTo(el, { key: p.data.key }); });
  }

  function costs(el, chart, data) {
    if (!data.departments.length) { empty(el); return; }
    chart.setOption({
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: barGrid(),
      xAxis: { type: "category", data: data.departments.map(function (d) { return d.label; }), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: "value", name: words.yuan },
      series: data.kinds.map(function (k) {
        return { name: k.label, type: "bar", stack: "c", data: data.departments.map(function (d) { return Number(d[k.key]); }) };
      })
    });
    chart.on("click", function (p) { drillTo(el, { key: data.departments[p.dataIndex].key }); });
  }

  function repeatRate(el, _chart, data) {
    kpi("repeat", fmt(data.rate, "%") + " (" + data.repeats + "/" + data.cases + ")");
  }

  var DRAW = { volumes: volumes, pareto_causes: pareto, pareto_models: pareto, cycle_times: cycleTimes,
    on_time: onTime, ageing: ageing, satisfaction: satisfaction, costs: costs, repeat_rate: repeatRate };

  Array.prototype.forEach.call(root.querySelectorAll("[data-chart]"), function (el) {
    var metric = el.getAttribute("data-chart");
    var chart = metric === "repeat_rate" ? null : window.echarts.init(el);
    if (chart) { charts.push(chart); }
    fetch(el.getAttribute("data-src"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (body) {
        DRAW[metric](el, chart, body.data);
        if (metric === "volumes") {
          Array.prototype.forEach.call(root.querySelectorAll("[data-volume-by]"), function (button) {
            button.addEventListener("click", function () {
              Array.prototype.forEach.call(root.querySelectorAll("[data-volume-by]"), function (b) { b.classList.remove("active"); });
              button.classList.add("active");
              volumes(el, chart, body.data);
            });
          });
        }
      })
      .catch(function () { if (chart) { chart.dispose(); } el.textContent = words.failed; });
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
}());
