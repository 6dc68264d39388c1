// Draws the chart's Grafana dashboard (charts/toshiba-etl/dashboards/toshiba-etl.json) as an SVG
// from the results its panels' queries gave on a real Prometheus, for docs/dashboard.svg. Grafana
// cannot run here (its licence rules it out), so test/dashboard.test.ts, which evaluates every
// panel's query after real runs, writes this picture when asked:
//   DASHBOARD_PICTURE=docs/dashboard.svg npm test -- test/dashboard.test.ts
// It shows the same numbers the panels would, laid out on the dashboard's grid; it is not Grafana.

export interface PanelResult {
  title: string;
  kind: 'stat' | 'timeseries';
  unit: string;
  grid: { x: number; y: number; w: number; h: number };
  /** A stat panel: its value. */
  value?: number;
  /** A time series panel: each series' points (Unix seconds, value). */
  series?: Array<{ name: string; points: Array<[number, number]> }>;
}

const COLUMN = 52;
const ROW = 34;
const COLORS = ['#73bf69', '#f2495c', '#5794f2', '#ff9830', '#b877d9', '#fade2a'];
const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function formatted(value: number, unit: string): string {
  if (unit === 's') {
    if (value >= 3600) return `${(value / 3600).toFixed(1)} h`;
    if (value >= 60) return `${(value / 60).toFixed(1)} min`;
    return `${value.toFixed(value < 10 ? 2 : 0)} s`;
  }
  return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(2);
}

function panel(result: PanelResult): string {
  const x = result.grid.x * COLUMN + 8;
  const y = result.grid.y * ROW + 56;
  const w = result.grid.w * COLUMN - 8;
  const h = result.grid.h * ROW - 8;
  const out = [`<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="3" fill="#181b1f" stroke="#2c3235"/>`, `<text x="${x + 10}" y="${y + 20}" class="title">${escape(result.title)}</text>`];
  if (result.kind === 'stat') {
    out.push(`<text x="${x + w / 2}" y="${y + h / 2 + 22}" class="stat" text-anchor="middle">${escape(formatted(result.value ?? NaN, result.unit))}</text>`);
    return out.join('\n');
  }
  const series = result.series ?? [];
  const points = series.flatMap((entry) => entry.points);
  const [t0, t1] = [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))];
  const top = Math.max(1, ...points.map((p) => p[1]));
  const plot = { x: x + 50, y: y + 34, w: w - 70, h: h - 70 };
  const px = (t: number) => plot.x + (t1 === t0 ? plot.w / 2 : ((t - t0) / (t1 - t0)) * plot.w);
  const py = (v: number) => plot.y + plot.h - (v / top) * plot.h;
  out.push(`<line x1="${plot.x}" y1="${plot.y + plot.h}" x2="${plot.x + plot.w}" y2="${plot.y + plot.h}" stroke="#2c3235"/>`);
  out.push(`<text x="${plot.x - 6}" y="${plot.y + 4}" class="axis" text-anchor="end">${escape(formatted(top, result.unit))}</text>`);
  out.push(`<text x="${plot.x - 6}" y="${plot.y + plot.h}" class="axis" text-anchor="end">0</text>`);
  series.forEach((entry, index) => {
    const color = COLORS[index % COLORS.length]!;
    if (entry.points.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${entry.points.map(([t, v]) => `${px(t).toFixed(1)},${py(v).toFixed(1)}`).join(' ')}"/>`);
    for (const [t, v] of entry.points) out.push(`<circle cx="${px(t).toFixed(1)}" cy="${py(v).toFixed(1)}" r="3" fill="${color}"/>`);
    out.push(`<rect x="${x + 10 + index * 110}" y="${y + h - 20}" width="10" height="4" fill="${color}"/><text x="${x + 24 + index * 110}" y="${y + h - 14}" class="axis">${escape(entry.name)}</text>`);
  });
  return out.join('\n');
}

/** The dashboard's panels as an SVG page, labelled as drawn from query results. */
export function drawDashboard(title: string, panels: readonly PanelResult[], note: string): string {
  const width = 24 * COLUMN + 8;
  const height = Math.max(...panels.map((p) => (p.grid.y + p.grid.h) * ROW)) + 90;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Inter, Helvetica, Arial, sans-serif">`,
    '<style>.title{fill:#ccccdc;font-size:13px;font-weight:500}.stat{fill:#73bf69;font-size:34px;font-weight:500}.axis{fill:#8e8e8e;font-size:11px}.head{fill:#ccccdc;font-size:16px}.note{fill:#8e8e8e;font-size:12px}</style>',
    `<rect width="100%" height="100%" fill="#111217"/>`,
    `<text x="12" y="26" class="head">${escape(title)}</text>`,
    `<text x="12" y="44" class="note">${escape(note)}</text>`,
    ...panels.map(panel),
    '</svg>',
  ].join('\n');
}
