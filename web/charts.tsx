/** @jsxImportSource npm:preact@11.2.0 */
// Server-rendered SVG charts. Each chart is a Preact component, so class and run names reach the markup
// as escaped text, and the same component gives the inline figure and the standalone .svg download.
// Hand-written rather than a plotting library: four chart kinds, no DOM shim on the server, and the
// output stays small enough to inline thousands of points.

import type { ComponentChildren, VNode } from "npm:preact@11.2.0";
import { renderToString } from "npm:preact-render-to-string@6.8.2";

export interface Series {
  name: string;
  /** x, y pairs */
  points: [number, number][];
  color?: string;
}

const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

/** The frame every chart shares: the root element, a white background (PNG export keeps it), the title. */
function ChartFrame(
  p: {
    id?: string;
    title: string;
    kind: string;
    width: number;
    height: number;
    fontSize: number;
    children: ComponentChildren;
  },
): VNode {
  return (
    <svg
      xmlns="http://www.w3.org/2000/svg"
      id={p.id}
      width={p.width}
      height={p.height}
      viewBox={`0 0 ${p.width} ${p.height}`}
      font-family="sans-serif"
      font-size={p.fontSize}
      role="img"
      aria-label={p.title}
      data-chart={p.kind}
    >
      <title>{p.title}</title>
      <rect x="0" y="0" width={p.width} height={p.height} fill="#fff" />
      <text x={p.width / 2} y="16" text-anchor="middle" font-size="13" font-weight="600">{p.title}</text>
      {p.children}
    </svg>
  );
}

export function classColor(i: number, n: number): string {
  if (n <= PALETTE.length) return PALETTE[i % PALETTE.length];
  // golden-angle hues keep neighbouring labels apart when there are more classes than palette entries
  return `hsl(${Math.round((i * 137.508) % 360)},65%,${i % 2 ? 42 : 55}%)`;
}

/** Round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(1);
  return String(+v.toPrecision(4));
}

/** At most `max` points: long step logs are thinned evenly (keeping the last point) so the SVG stays small. */
export function thin(points: [number, number][], max = 1500): [number, number][] {
  if (points.length <= max) return points;
  const out: [number, number][] = [];
  const stride = (points.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(points[Math.round(i * stride)]);
  return out;
}

export interface LineChartProps {
  id?: string;
  title: string;
  series: Series[];
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  logY?: boolean;
}

const M = { l: 62, r: 16, t: 28, b: 42 };

export function LineChart(
  { id, title, series, xLabel, yLabel, width = 560, height = 300, logY = false }: LineChartProps,
): VNode {
  const tf = (y: number) => (logY ? Math.log10(Math.max(y, 1e-12)) : y);
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const pw = width - M.l - M.r, ph = height - M.t - M.b;
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => tf(p[1]))), y1 = Math.max(...all.map((p) => tf(p[1])));
  if (!all.length) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 === x0) x0 -= 0.5, x1 += 0.5;
  if (y1 === y0) y0 -= 0.5, y1 += 0.5;
  const pad = (y1 - y0) * 0.05;
  y0 -= pad, y1 += pad;
  const sx = (x: number) => M.l + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.t + ph - ((tf(y) - y0) / (y1 - y0)) * ph;
  const xt = ticks(x0, x1), yt = logY ? ticks(y0, y1).filter((v) => Number.isInteger(v)) : ticks(y0, y1);
  return (
    <ChartFrame id={id} title={title} kind="line" width={width} height={height} fontSize={11}>
      <g class="grid" stroke="#e8eaed">
        {yt.map((v) => (
          <line
            x1={M.l}
            x2={M.l + pw}
            y1={sy(logY ? 10 ** v : v)}
            y2={sy(logY ? 10 ** v : v)}
          />
        ))}
      </g>
      <g class="axis" fill="#444">
        {xt.map((v) => <text key={v} x={sx(v)} y={M.t + ph + 14} text-anchor="middle">{tickLabel(v)}</text>)}
        {yt.map((v) => (
          <text x={M.l - 5} y={sy(logY ? 10 ** v : v) + 4} text-anchor="end">
            {logY ? tickLabel(10 ** v) : tickLabel(v)}
          </text>
        ))}
        <text x={M.l + pw / 2} y={height - 6} text-anchor="middle">{xLabel}</text>
        <text x="12" y={M.t + ph / 2} text-anchor="middle" transform={`rotate(-90 12 ${M.t + ph / 2})`}>
          {yLabel}
        </text>
      </g>
      <rect x={M.l} y={M.t} width={pw} height={ph} fill="none" stroke="#999" />
      <g class="plot" fill="none" stroke-width="1.5">
        {series.map((s, i) => {
          const pts = thin(s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
          const d = pts.map(([x, y], k) => `${k ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(
            "",
          );
          const color = s.color ?? PALETTE[i % PALETTE.length];
          return (
            <g data-series={s.name}>
              <path d={d} stroke={color} />
              {pts.length <= 40 &&
                pts.map(([x, y], k) => <circle key={k} cx={sx(x)} cy={sy(y)} r="2.5" fill={color} />)}
            </g>
          );
        })}
      </g>
      {series.length > 1 && (
        <g class="legend">
          {series.map((s, i) => (
            <g>
              <rect
                x={M.l + 8}
                y={M.t + 6 + i * 14}
                width="10"
                height="3"
                fill={s.color ?? PALETTE[i % 10]}
              />
              <text x={M.l + 22} y={M.t + 10 + i * 14}>{s.name}</text>
            </g>
          ))}
        </g>
      )}
    </ChartFrame>
  );
}

export function PerClassChart(
  { id, title, classes }: { id?: string; title: string; classes: { name: string; accuracy: number }[] },
): VNode {
  const rowH = classes.length > 60 ? 4 : 14, labelW = classes.length > 60 ? 10 : 150;
  const width = 560, height = M.t + classes.length * rowH + 30;
  const pw = width - labelW - 40;
  return (
    <ChartFrame id={id} title={title} kind="per-class" width={width} height={height} fontSize={10}>
      {[0, 25, 50, 75, 100].map((v) => (
        <g>
          <line
            x1={labelW + (v / 100) * pw}
            x2={labelW + (v / 100) * pw}
            y1={M.t}
            y2={height - 22}
            stroke="#e8eaed"
          />
          <text x={labelW + (v / 100) * pw} y={height - 8} text-anchor="middle">{v}%</text>
        </g>
      ))}
      {classes.map((c, i) => (
        <g>
          <rect
            x={labelW}
            y={M.t + i * rowH + 1}
            width={Math.max(0, (c.accuracy / 100) * pw)}
            height={rowH - 2}
            fill={classColor(i, classes.length)}
          >
            <title>{`${c.name}: ${c.accuracy.toFixed(1)}%`}</title>
          </rect>
          {rowH >= 10 && <text x={labelW - 4} y={M.t + i * rowH + rowH - 3} text-anchor="end">{c.name}</text>}
        </g>
      ))}
    </ChartFrame>
  );
}

/** confusion[true][predicted] as a heatmap; only non-zero cells are drawn, so 400 classes stay small. */
export function ConfusionChart(
  { id, title, classNames, confusion }: {
    id?: string;
    title: string;
    classNames: string[];
    confusion: number[][];
  },
): VNode {
  const n = confusion.length;
  const labels = n <= 40;
  const off = labels ? 120 : 40;
  const side = Math.max(160, Math.min(520, n * 14));
  const cell = side / Math.max(n, 1);
  const width = off + side + 20, height = M.t + off + side - 90 + (labels ? 0 : 90);
  const top = labels ? M.t + 90 : M.t + 10;
  const rowMax = confusion.map((r) => Math.max(1, ...r));
  return (
    <ChartFrame
      id={id}
      title={title}
      kind="confusion"
      width={width}
      height={Math.max(height, top + side + 30)}
      fontSize={9}
    >
      <rect x={off} y={top} width={side} height={side} fill="#f7f9fc" stroke="#999" />
      {confusion.flatMap((row, t) =>
        row.map((v, p) =>
          v === 0 ? null : (
            <rect
              x={off + p * cell}
              y={top + t * cell}
              width={cell}
              height={cell}
              fill={`rgba(11,87,208,${(0.15 + 0.85 * v / rowMax[t]).toFixed(3)})`}
            >
              <title>{`true ${classNames[t] ?? t} → predicted ${classNames[p] ?? p}: ${v}`}</title>
            </rect>
          )
        )
      )}
      {labels && classNames.slice(0, n).map((name, i) => (
        <g>
          <text x={off - 4} y={top + i * cell + cell * 0.7} text-anchor="end">{name}</text>
          <text
            x={off + i * cell + cell * 0.7}
            y={top - 4}
            transform={`rotate(-60 ${off + i * cell + cell * 0.7} ${top - 4})`}
          >
            {name}
          </text>
        </g>
      ))}
      <text x={off + side / 2} y={top + side + 16} text-anchor="middle" font-size="11">predicted</text>
      <text x="10" y={top + side / 2} font-size="11" transform={`rotate(-90 10 ${top + side / 2})`}>
        true
      </text>
    </ChartFrame>
  );
}

export function ScatterChart(
  { id, title, points, labels, classNames }: {
    id?: string;
    title: string;
    /** N × 2 row-major */
    points: ArrayLike<number>;
    labels: ArrayLike<number>;
    classNames: string[];
  },
): VNode {
  const n = labels.length, c = classNames.length;
  const legend = c <= 24;
  const size = 420, legendW = legend ? 150 : 0;
  const width = size + legendW + 20, height = size + M.t + 10;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = points[2 * i], y = points[2 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    x0 = Math.min(x0, x), x1 = Math.max(x1, x), y0 = Math.min(y0, y), y1 = Math.max(y1, y);
  }
  if (!(x1 > x0)) x0 -= 1, x1 += 1;
  if (!(y1 > y0)) y0 -= 1, y1 += 1;
  const sx = (x: number) => 14 + ((x - x0) / (x1 - x0)) * (size - 28);
  const sy = (y: number) => M.t + 14 + (1 - (y - y0) / (y1 - y0)) * (size - 28);
  const dots: VNode[] = [];
  for (let i = 0; i < n; i++) {
    const x = points[2 * i], y = points[2 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const l = labels[i];
    dots.push(
      <circle cx={sx(x).toFixed(1)} cy={sy(y).toFixed(1)} r="3.5" fill={classColor(l, c)} fill-opacity="0.85">
        {n <= 600 && <title>{classNames[l] ?? String(l)}</title>}
      </circle>,
    );
  }
  return (
    <ChartFrame id={id} title={title} kind="scatter" width={width} height={height} fontSize={10}>
      <rect x="4" y={M.t + 4} width={size - 8} height={size - 8} fill="none" stroke="#ccc" />
      <g class="points">{dots}</g>
      {legend && (
        <g class="legend">
          {classNames.map((name, i) => (
            <g>
              <circle cx={size + 14} cy={M.t + 10 + i * 14} r="4" fill={classColor(i, c)} />
              <text x={size + 22} y={M.t + 14 + i * 14}>{name}</text>
            </g>
          ))}
        </g>
      )}
    </ChartFrame>
  );
}

/** A chart as a standalone SVG file (with the XML declaration a file on disk should carry). */
export function svgDocument(chart: VNode): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${renderToString(chart)}\n`;
}
