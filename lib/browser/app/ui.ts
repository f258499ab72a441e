/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The page's few widgets, in plain DOM: drop zones, the weights progress bar, the top-5 table, the frames the
// model saw and the live loss curve. Nothing here knows about models; classify.ts and teach.ts use them.

import type { PageFrame } from "../predict.ts";

/** The element with `id`; a page without it is a broken page, said in one line. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`vifi: the page has no #${id}`);
  return el as T;
}

/** Files dropped on `zone` or chosen through `input` go to `onFiles` (the picker is cleared for a re-pick). */
export function dropZone(zone: HTMLElement, input: HTMLInputElement, onFiles: (files: File[]) => void): void {
  input.addEventListener("change", () => {
    if (input.files?.length) onFiles([...input.files]);
    input.value = "";
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const files = [...e.dataTransfer?.files ?? []];
    if (files.length) onFiles(files);
  });
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** The weights bar: shown while bytes arrive, hidden once they are all there. */
export function weightsProgress(loaded: number, total: number): void {
  const box = byId("weights"), bar = byId<HTMLProgressElement>("weights-bar");
  box.hidden = total > 0 && loaded >= total;
  bar.max = total || 1;
  bar.value = total ? loaded : 0;
  byId("weights-label").textContent = total
    ? `Loading the model: ${mb(loaded)} of ${mb(total)}`
    : `Loading the model: ${mb(loaded)}`;
}

/** Class names typed one per line: trimmed, empty lines dropped. */
export function classLines(text: string): string[] {
  return text.split("\n").map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Top-k rows: name, a bar as long as the probability, the percentage. */
export function showTop(table: HTMLTableElement, rows: { label: string; prob: number }[]): void {
  table.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    const name = document.createElement("td"),
      bar = document.createElement("td"),
      pct = document.createElement("td");
    name.textContent = r.label;
    const fill = document.createElement("div");
    fill.className = "bar";
    fill.style.width = `${Math.max(0.5, 100 * r.prob).toFixed(1)}%`;
    bar.style.width = "50%";
    bar.append(fill);
    pct.textContent = `${(100 * r.prob).toFixed(2)} %`;
    tr.dataset.label = r.label;
    tr.dataset.prob = String(r.prob);
    tr.append(name, bar, pct);
    return tr;
  }));
}

/** The frames the model saw, one canvas each (the model's own resolution, scaled up by CSS). */
export function showFrames(box: HTMLElement, frames: PageFrame[]): void {
  box.replaceChildren(...frames.map((f) => {
    const c = document.createElement("canvas");
    c.width = f.width;
    c.height = f.height;
    c.title = `frame ${f.index}`;
    c.getContext("2d")!.putImageData(
      new ImageData(f.data as Uint8ClampedArray<ArrayBuffer>, f.width, f.height),
      0,
      0,
    );
    return c;
  }));
}

/** The loss per step as a line in `svg` (viewBox 600×160), scaled to the run's planned steps and first loss. */
export function drawLoss(svg: SVGSVGElement, losses: number[], planned: number): void {
  const W = 600, H = 160, pad = 6;
  const top = Math.max(...losses, 1e-6);
  const x = (i: number) => pad + (W - 2 * pad) * (planned > 1 ? i / (planned - 1) : 0);
  // 20 units at the top keep the line clear of the labels
  const y = (v: number) => H - pad - (H - pad - 20) * (v / top);
  const ns = "http://www.w3.org/2000/svg";
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", losses.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#2f6fbf");
  line.setAttribute("stroke-width", "2");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  // the scale: the largest loss so far at the top, zero at the bottom, the step count at the right
  const label = (text: string, at: [number, number], anchor: string) => {
    const t = document.createElementNS(ns, "text");
    t.textContent = text;
    t.setAttribute("x", String(at[0]));
    t.setAttribute("y", String(at[1]));
    t.setAttribute("text-anchor", anchor);
    t.setAttribute("font-size", "11");
    t.setAttribute("fill", "#5b6570");
    return t;
  };
  svg.replaceChildren(
    line,
    label(`loss ${top.toFixed(3)}`, [pad + 2, pad + 10], "start"),
    label("0", [pad + 2, H - pad - 2], "start"),
    label(`step ${losses.length} of ${planned}`, [W - pad - 2, pad + 10], "end"),
  );
}

/** An error as the page shows it: its first line. */
export function errorLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split("\n")[0];
}
