/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The page's script (bundled by `deno task site` into assets/js/app.js): reads the site's manifest, asks
// whether this browser has WebGPU (and says plainly when it has not: nothing can run then), points the
// ffmpeg.wasm fallback at the site's own copy, and wires the two panes. Everything it fetches is a path
// relative to the page, so the site talks to nothing but its own host.

import { pageWebGpu } from "../predict.ts";
import { useFfmpegWasm } from "../video.ts";
import { setupClassify } from "./classify.ts";
import { loadManifest } from "./manifest.ts";
import { newAppState } from "./state.ts";
import { setupTeach } from "./teach.ts";
import { byId, errorLine } from "./ui.ts";

function tabs(): void {
  const panes = { classify: byId("pane-classify"), teach: byId("pane-teach") };
  for (const [name, pane] of Object.entries(panes)) {
    byId(`tab-${name}`).addEventListener("click", () => {
      for (const [other, p] of Object.entries(panes)) {
        p.hidden = p !== pane;
        byId(`tab-${other}`).setAttribute("aria-selected", String(p === pane));
      }
    });
  }
}

async function start(): Promise<void> {
  const app = newAppState();
  const gpu = byId("gpu");
  try {
    tabs();
    const m = app.manifest = await loadManifest();
    if (m.ffmpegWasm) useFfmpegWasm(new URL(m.ffmpegWasm, location.href));
    app.webgpu = await pageWebGpu();
    const model = `${m.model.name ?? "model"} (${(m.model.bytes / 1e6).toFixed(1)} MB)`;
    if (app.webgpu.available) {
      const a = app.webgpu.adapter;
      gpu.textContent = `WebGPU: ${[a.vendor, a.architecture, a.description].filter((s) => s).join(" ")}` +
        `${a.f16 ? " (f16)" : " (f32)"}; model ${model}, ${m.frames} frames a video.`;
    } else {
      gpu.className = "banner warn";
      gpu.textContent = `This browser cannot run the model here: ${app.webgpu.why.replace(/^vifi: /, "")}. ` +
        "Try a recent Chrome or Edge (or Firefox/Safari with WebGPU on).";
    }
    setupClassify(app);
    setupTeach(app);
  } catch (e) {
    app.error = errorLine(e);
    gpu.className = "banner warn";
    gpu.textContent = app.error;
  }
  app.ready = true;
  document.body.dataset.ready = "true";
}

start();
