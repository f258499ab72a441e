/** @jsxImportSource npm:preact@11.2.0 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The predict page's own bundle (served by web/predict-browser.ts at browser/js/predict.js under the predict
// routes, and loaded by no other page: it carries the model code and the page's video decoding). It hydrates
// the "run in my browser" island the way web/client.tsx hydrates the dashboard's, and points the page's
// ffmpeg.wasm at the dashboard's copy. The bundled kernels.ts finds the WGSL files at ../../kernels/ from this
// script's URL, which the same routes serve.

import { h, hydrate } from "npm:preact@11.2.0";
import { useFfmpegWasm } from "../lib/browser/video.ts";
import { PredictInBrowser } from "./islands/PredictInBrowser.tsx";

useFfmpegWasm(new URL("../ffmpeg-core.wasm", import.meta.url));

for (const el of document.querySelectorAll<HTMLElement>("[data-island=PredictInBrowser]")) {
  const root = el.querySelector<HTMLElement>(":scope > [data-root]");
  const json = el.querySelector(":scope > script[type='application/json']")?.textContent;
  if (!root || !json) continue;
  hydrate(h(PredictInBrowser, JSON.parse(json)), root);
  el.dataset.hydrated = "1";
}
