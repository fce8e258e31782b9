// Small SVG charts drawn from data: grouped bars (a product across stores) and share bars
// (count accuracy). No library: the dashboard loads nothing from other hosts.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// Grouped bar chart. groups: [{label, values: [n, ...]}]; series: [{name, cls}].
export function barChart(target, groups, series, { height = 240, unit = "" } = {}) {
  target.replaceChildren();
  const width = Math.max(360, target.clientWidth || 640);
  const pad = { top: 16, right: 12, bottom: 44, left: 44 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const max = Math.max(1, ...groups.flatMap((g) => g.values.map((v) => Math.max(0, v))));
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const svg = el("svg", {
    width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": groups.map((g) => `${g.label}: ${g.values.join(" / ")}${unit}`).join("; "),
  });
  for (let v = 0; v <= top; v += step) {
    const y = pad.top + plotH - (v / top) * plotH;
    svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }));
    svg.append(el("text", { x: pad.left - 6, y: y + 4, class: "tick", "text-anchor": "end" }, v));
  }
  const slot = plotW / Math.max(1, groups.length);
  const barW = Math.max(6, Math.min(40, (slot * 0.7) / series.length));
  groups.forEach((g, i) => {
    const x0 = pad.left + i * slot + (slot - barW * series.length) / 2;
    g.values.forEach((v, j) => {
      const h = (Math.max(0, v) / top) * plotH;
      const bar = el("rect", {
        x: x0 + j * barW, y: pad.top + plotH - h, width: barW - 2, height: h,
        class: `bar ${series[j].cls}`, "data-store": g.label, "data-series": series[j].name,
        "data-value": v,
      });
      bar.append(el("title", {}, `${g.label} ${series[j].name}: ${v}${unit}`));
      svg.append(bar);
      svg.append(el("text", {
        x: x0 + j * barW + (barW - 2) / 2, y: pad.top + plotH - h - 3, class: "value",
        "text-anchor": "middle",
      }, v));
    });
    svg.append(el("text", {
      x: pad.left + i * slot + slot / 2, y: height - pad.bottom + 16, class: "label",
      "text-anchor": "middle",
    }, g.label));
  });
  const legend = el("g", { transform: `translate(${pad.left}, ${height - 12})` });
  series.forEach((s, j) => {
    legend.append(el("rect", { x: j * 110, y: -9, width: 10, height: 10, class: `bar ${s.cls}` }));
    legend.append(el("text", { x: j * 110 + 14, y: 0, class: "legend" }, s.name));
  });
  svg.append(legend);
  target.append(svg);
}

// Horizontal share bars: rows [{label, share (0..1), note}].
export function shareBars(target, rows) {
  target.replaceChildren();
  const width = Math.max(320, target.clientWidth || 480);
  const rowH = 26;
  const labelW = 110;
  const svg = el("svg", { width, height: rows.length * rowH + 4, role: "img" });
  rows.forEach((r, i) => {
    const y = i * rowH + 4;
    const w = Math.max(0, Math.min(1, r.share)) * (width - labelW - 90);
    svg.append(el("text", { x: 0, y: y + 14, class: "label" }, r.label));
    svg.append(el("rect", { x: labelW, y, width: width - labelW - 90, height: 18, class: "track" }));
    svg.append(el("rect", {
      x: labelW, y, width: w, height: 18, class: r.share >= 0.95 ? "bar good" : "bar warn",
    }));
    svg.append(el("text", { x: width - 84, y: y + 14, class: "value" },
      `${(r.share * 100).toFixed(1)}% ${r.note || ""}`));
  });
  target.append(svg);
}

function niceStep(max) {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return Math.max(1, m * mag);
  return Math.max(1, 10 * mag);
}
