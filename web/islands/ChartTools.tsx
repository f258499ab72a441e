/** @jsxImportSource npm:preact@11.2.0 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// Zoom and PNG export for one server-rendered chart. The chart itself stays plain SVG outside the island
// (it must show with JavaScript off); hydrated, these buttons change the chart's viewBox and rasterise
// it to PNG in the browser. The SVG download is a plain link rendered by the server next to them.

import type { VNode } from "npm:preact@11.2.0";
import { useSignal } from "npm:@preact/signals@2.11.4";

export interface ChartToolsProps {
  /** the id of the <svg> element */
  target: string;
  /** download name without extension */
  filename: string;
  [k: string]: unknown;
}

function chartOf(id: string): SVGSVGElement | null {
  return typeof document === "undefined" ? null : document.getElementById(id) as SVGSVGElement | null;
}

export async function svgToPng(svg: SVGSVGElement, scale = 2): Promise<Blob> {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  clone.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  const w = Number(svg.getAttribute("width")) || svg.clientWidth;
  const h = Number(svg.getAttribute("height")) || svg.clientHeight;
  const url = URL.createObjectURL(
    new Blob([new XMLSerializer().serializeToString(clone)], { type: "image/svg+xml" }),
  );
  try {
    const img = new Image();
    await new Promise<void>((ok, fail) => {
      img.onload = () => ok();
      img.onerror = () => fail(new Error("the chart did not load as an image"));
      img.src = url;
    });
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(w * scale), canvas.height = Math.round(h * scale);
    const ctx = canvas.getContext("2d")!;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    return await new Promise<Blob>((ok, fail) =>
      canvas.toBlob((b) => (b ? ok(b) : fail(new Error("PNG encoding failed"))), "image/png")
    );
  } finally {
    URL.revokeObjectURL(url);
  }
}

export function ChartTools({ target, filename }: ChartToolsProps): VNode {
  const zoom = useSignal(1);
  const pan = useSignal(0);
  const error = useSignal("");
  const apply = (z: number, p: number) => {
    const svg = chartOf(target);
    if (!svg) return;
    const w = Number(svg.getAttribute("width")), h = Number(svg.getAttribute("height"));
    // zoom about the centre along x and y; pan moves the window horizontally (charts read left to right)
    const vw = w / z, vh = h / z;
    const maxPan = (w - vw) / 2;
    const px = Math.max(-maxPan, Math.min(maxPan, p));
    zoom.value = z, pan.value = px;
    svg.setAttribute("viewBox", `${((w - vw) / 2 + px).toFixed(1)} ${((h - vh) / 2).toFixed(1)} ${vw} ${vh}`);
    svg.dataset.zoom = String(z);
  };
  const png = async () => {
    const svg = chartOf(target);
    if (!svg) return;
    try {
      const blob = await svgToPng(svg);
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `${filename}.png`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (e) {
      error.value = String(e instanceof Error ? e.message : e);
    }
  };
  const step = () => (Number(chartOf(target)?.getAttribute("width")) || 500) / zoom.value / 4;
  return (
    <span class="chart-tools">
      <button
        type="button"
        data-act="zoom-in"
        title="zoom in"
        onClick={() => apply(zoom.value * 1.5, pan.value)}
      >
        +
      </button>
      <button
        type="button"
        data-act="zoom-out"
        title="zoom out"
        onClick={() => apply(Math.max(1, zoom.value / 1.5), pan.value)}
      >
        −
      </button>
      <button type="button" title="pan left" onClick={() => apply(zoom.value, pan.value - step())}>←</button>
      <button type="button" title="pan right" onClick={() => apply(zoom.value, pan.value + step())}>→</button>
      <button type="button" data-act="reset" onClick={() => apply(1, 0)}>reset</button>
      <button type="button" data-act="png" onClick={png}>PNG</button>
      <span class="zoom muted">{zoom.value === 1 ? "" : `${zoom.value.toFixed(2)}×`}</span>
      {error.value && <span class="neg">{error.value}</span>}
    </span>
  );
}
