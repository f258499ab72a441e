/// <reference lib="dom" />
// "Run in my browser", page side: the predict form's own fields, checked with the server's rules
// (predict-input.ts), turned into lib/browser/predict.ts's predictInPage on this page's GPU. The weights are
// the file the server would open for the same form, fetched from the dashboard (web/predict-browser.ts) and
// kept in the browser's cache; the video is read and decoded in the page and never sent anywhere.

import { type PageProgress, predictInPage } from "../lib/browser/predict.ts";
import { checkInput, formValues, type PredictInput } from "./predict-input.ts";

/** What the page shows for one prediction made in it. */
export interface BrowserAnswer {
  video: string;
  checkpoint: string;
  predictions: { label: string; prob: number }[];
  classes: number;
  template: string;
  /** frames per view and views */
  frames: number;
  views: number;
  /** the first view's frames as PNG data URLs (the CSP allows data: images) */
  thumbnails: { src: string; index: number; width: number; height: number }[];
  /** wall milliseconds per stage, and from the click to the answer */
  ms: { weights: number; model: number; video: number; predict: number; total: number; click: number };
  adapter: { vendor: string; architecture: string; description: string; f16: boolean };
  weightsFrom: string;
  decoder: string;
  decoderFallback?: string;
}

/** The form checked as the server checks it; the error is the one the server would answer with. */
export function browserJob(form: HTMLFormElement, maxUploadBytes: number): PredictInput {
  const data = new FormData(form);
  return checkInput(data, formValues(data), maxUploadBytes);
}

/** A frame of the model's input as a PNG data URL. */
function frameUrl(f: { width: number; height: number; data: Uint8ClampedArray }): string {
  const canvas = document.createElement("canvas");
  canvas.width = f.width;
  canvas.height = f.height;
  canvas.getContext("2d")!.putImageData(
    new ImageData(f.data as Uint8ClampedArray<ArrayBuffer>, f.width, f.height),
    0,
    0,
  );
  return canvas.toDataURL("image/png");
}

/** The weights URL for the asked path: refused exactly where the server's form would refuse it. */
async function weightsUrl(base: string, asked: string): Promise<string> {
  const info = new URL(`${base}/browser/weights-info`, location.href);
  info.searchParams.set("path", asked);
  const res = await fetch(info);
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok || typeof body.url !== "string") throw new Error(body.error ?? `HTTP ${res.status}`);
  return new URL(body.url, info).href;
}

/** One prediction on this page's GPU for a checked form. */
export async function runInBrowser(
  base: string,
  job: PredictInput,
  progress?: PageProgress,
): Promise<BrowserAnswer> {
  const t0 = performance.now();
  const weights = await weightsUrl(base, job.asked);
  const video = new Uint8Array(await job.file.arrayBuffer());
  const r = await predictInPage({
    weights,
    weightsName: job.asked,
    classes: job.labels,
    template: job.template,
    vocab: new URL(`${base}/browser/vocab`, location.href).href,
    video,
    videoName: job.file.name || "upload",
    frames: job.frames,
    clips: job.clips,
    crops: job.crops,
  }, progress);
  return {
    video: job.file.name,
    checkpoint: job.asked,
    predictions: r.predictions,
    classes: r.probs.length,
    template: r.template,
    frames: job.frames,
    views: r.views,
    thumbnails: r.frames.map((f) => ({ src: frameUrl(f), index: f.index, width: f.width, height: f.height })),
    ms: { ...r.ms, click: performance.now() - t0 },
    adapter: r.adapter,
    weightsFrom: r.weightsFrom,
    decoder: r.decoder,
    decoderFallback: r.decoderFallback,
  };
}
