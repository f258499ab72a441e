/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// "Classify": one dropped video, the class names typed one per line, predicted on this page's GPU by
// lib/browser/predict.ts (the server's predict path): top-5 with probabilities, the frames the model saw,
// the time each stage took and the adapter. The first prediction downloads the model (the progress bar);
// later visits read it from the browser's cache.

import { predictInPage } from "../predict.ts";
import { modelUrl } from "./manifest.ts";
import type { AppState } from "./state.ts";
import { byId, classLines, dropZone, errorLine, showFrames, showTop, weightsProgress } from "./ui.ts";

const STAGE_TEXT: Record<string, string> = {
  weights: "reading the model…",
  model: "building the model on the GPU…",
  vocab: "reading CLIP's vocabulary…",
  video: "decoding the video…",
  predict: "running the model (the first run in a visit compiles its GPU programs)…",
};

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

export function setupClassify(app: AppState): void {
  const m = app.manifest!;
  const run = byId<HTMLButtonElement>("classify-run");
  const status = byId("classify-status"), result = byId("classify-result");
  const classesBox = byId<HTMLTextAreaElement>("classify-classes");
  classesBox.value = m.classes.join("\n");
  let video: File | undefined;
  const canRun = () => (run.disabled = !video || app.classify.state === "running" || !app.webgpu?.available);
  dropZone(byId("classify-drop"), byId<HTMLInputElement>("classify-file"), (files) => {
    video = files[0];
    byId("classify-name").textContent = `${video.name} (${(video.size / 1e6).toFixed(2)} MB)`;
    canRun();
  });
  run.addEventListener("click", async () => {
    const classes = classLines(classesBox.value);
    if (!video) return;
    if (classes.length === 0) {
      status.textContent = "Type at least one class name.";
      return;
    }
    app.classify = { state: "running" };
    result.dataset.state = "running";
    canRun();
    try {
      const r = await predictInPage({
        weights: modelUrl(m),
        classes,
        template: m.template ?? undefined,
        vocab: m.vocab ?? undefined,
        video: new Uint8Array(await video.arrayBuffer()),
        videoName: video.name,
        frames: m.frames,
      }, (stage, loaded, total) => {
        status.textContent = STAGE_TEXT[stage] ?? stage;
        if (stage === "weights" && loaded !== undefined) weightsProgress(loaded, total ?? 0);
      });
      showTop(byId<HTMLTableElement>("classify-top"), r.predictions);
      showFrames(byId("classify-frames"), r.frames);
      const a = r.adapter;
      const adapter = [a.vendor, a.architecture, a.description].filter((s) => s).join(" ") ||
        "unnamed adapter";
      byId("classify-time").textContent = `${seconds(r.ms.total)} in all (model ${
        r.weightsFrom === "memory"
          ? "already loaded"
          : `from ${r.weightsFrom} ${seconds(r.ms.weights + r.ms.model)}`
      }, video ${seconds(r.ms.video)} by ${r.decoder}, model run ${seconds(r.ms.predict)}) on ${adapter}` +
        `${a.f16 ? "" : ", f32"}`;
      byId("weights").hidden = true;
      app.classify = {
        state: "done",
        predictions: r.predictions,
        classes,
        probs: Array.from(r.probs),
        weightsFrom: r.weightsFrom,
        decoder: r.decoder,
        ms: r.ms,
        adapter,
      };
      status.textContent = "";
    } catch (e) {
      app.classify = { state: "error", error: errorLine(e) };
      status.innerHTML = "";
      status.append(
        Object.assign(document.createElement("span"), { className: "error", textContent: errorLine(e) }),
      );
    }
    result.hidden = app.classify.state !== "done";
    result.dataset.state = app.classify.state;
    canRun();
  });
  canRun();
}
