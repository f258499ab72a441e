/** @jsxImportSource npm:preact@11.2.0 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// "Run in my browser" on the predict page. Server-rendered as a line saying the form runs on the server;
// hydrated (by the predict page's own bundle, web/predict-browser-client.tsx, never the dashboard's), it asks
// for the page's WebGPU. With an adapter, running in the browser is the default: the form's submit is taken
// over and the prediction is made on this GPU (web/predict-browser-run.ts), the video never leaving the
// page. Without one, the island says why and the form posts to the server as it does with JavaScript off.
// A prompts file is for the server's predict (the page's predictInPage takes class names only): with one
// chosen, the form goes to the server and the island says so.

import type { VNode } from "npm:preact@11.2.0";
import { useSignal } from "npm:@preact/signals@2.11.4";
import { useEffect, useRef } from "npm:preact@11.2.0/hooks";
import { type PageWebGpu, pageWebGpu } from "../../lib/browser/predict.ts";
import { type BrowserAnswer, browserJob, runInBrowser } from "../predict-browser-run.ts";
import { PredictionTable, Thumbnails } from "../predict-results.tsx";

export interface PredictInBrowserProps {
  /** the predict routes' mount point ("/predict"), for the weights and the vocabulary */
  base: string;
  maxUploadBytes: number;
}

type Where = "browser" | "server";

const MB = (n: number) => (n / 1e6).toFixed(1);

function adapterName(a: { vendor: string; architecture: string; description: string }): string {
  return [a.description, a.vendor, a.architecture].filter((s) => s).join(" · ") || "unnamed adapter";
}

function Gpu({ gpu }: { gpu: PageWebGpu | null }): VNode {
  if (gpu === null) {
    return (
      <p class="webgpu muted">
        Looking for WebGPU to run the model in this browser; until then (or with JavaScript off) the form
        predicts on the server.
      </p>
    );
  }
  if (!gpu.available) {
    return (
      <p class="webgpu notice" data-webgpu="absent">
        This browser cannot run the model itself ({gpu.why.replace(/^vifi: /, "")}): predictions run on the
        server.
      </p>
    );
  }
  return (
    <p class="webgpu" data-webgpu="present">
      WebGPU adapter: <strong class="adapter">{adapterName(gpu.adapter)}</strong>
      {gpu.adapter.f16 ? " (shader-f16)" : " (f32)"}
    </p>
  );
}

function Answer({ a, n }: { a: BrowserAnswer; n: number }): VNode {
  return (
    <section class="predict-result browser-result" data-run={String(n)}>
      <p>
        {a.video}: {a.frames} frames × {a.views} view{a.views > 1 ? "s" : ""}, {a.classes} classes, prompt
        {" "}
        <code>{a.template}</code>, checkpoint <code>{a.checkpoint}</code> — computed in this browser on{" "}
        <span class="adapter">{adapterName(a.adapter)}</span>
      </p>
      <PredictionTable predictions={a.predictions} />
      <Thumbnails thumbnails={a.thumbnails} />
      <p class="timing" data-ms={String(a.ms.click)}>
        {(a.ms.click / 1000).toFixed(2)} s from the click: weights {a.ms.weights.toFixed(0)} ms (from{" "}
        {a.weightsFrom}), model {a.ms.model.toFixed(0)} ms, video {a.ms.video.toFixed(0)} ms ({a.decoder}
        {a.decoderFallback ? `: ${a.decoderFallback}` : ""}), predict {a.ms.predict.toFixed(0)} ms
      </p>
    </section>
  );
}

export function PredictInBrowser({ base, maxUploadBytes }: PredictInBrowserProps): VNode {
  const gpu = useSignal<PageWebGpu | null>(null);
  const where = useSignal<Where>("server");
  const busy = useSignal<string | null>(null);
  const error = useSignal<string | null>(null);
  const answer = useSignal<BrowserAnswer | null>(null);
  // answers so far: a page (or a test) tells a new answer from the last one by it
  const answers = useSignal(0);
  // the submit listener reads these when it fires, not when it was added
  const state = useRef({ where, busy });
  state.current = { where, busy };

  useEffect(() => {
    pageWebGpu().then((g) => {
      gpu.value = g;
      where.value = g.available ? "browser" : "server";
    });
    const form = document.querySelector<HTMLFormElement>("form.predict-form");
    if (!form) return;
    const onSubmit = (e: SubmitEvent) => {
      const { where, busy } = state.current;
      if (where.value !== "browser") return;
      const prompts = form.querySelector<HTMLInputElement>("input[name=prompts]")?.files?.length;
      if (prompts) {
        error.value = "learned prompts are applied by the server's predict: this one runs on the server";
        return;
      }
      e.preventDefault();
      if (busy.value !== null) return;
      error.value = null;
      let job;
      try {
        job = browserJob(form, maxUploadBytes);
      } catch (err) {
        error.value = (err as Error).message;
        return;
      }
      busy.value = "starting";
      runInBrowser(base, job, (stage, loaded, total) => {
        busy.value = stage === "weights" && loaded !== undefined
          ? `weights ${MB(loaded)}${total ? ` / ${MB(total)}` : ""} MB`
          : stage;
      }).then((a) => {
        answer.value = a;
        answers.value++;
      })
        .catch((
          err,
        ) => (error.value = String(err instanceof Error ? err.message : err).replace(/^vifi: /, "")))
        .finally(() => (busy.value = null));
    };
    form.addEventListener("submit", onSubmit);
    return () => form.removeEventListener("submit", onSubmit);
  }, []);

  const g = gpu.value;
  return (
    <section class="in-browser" data-where={where.value} data-busy={busy.value === null ? undefined : "1"}>
      <Gpu gpu={g} />
      {g?.available && (
        <p class="where">
          <label>
            <input
              type="radio"
              name="where"
              value="browser"
              checked={where.value === "browser"}
              onChange={() => (where.value = "browser")}
            />{" "}
            run in my browser (the video stays on this computer)
          </label>{" "}
          <label>
            <input
              type="radio"
              name="where"
              value="server"
              checked={where.value === "server"}
              onChange={() => (where.value = "server")}
            />{" "}
            on the server
          </label>
        </p>
      )}
      {busy.value !== null && <p class="progress" role="status">Running in this browser: {busy.value}…</p>}
      {error.value !== null && (
        <p class="error" role="alert">
          <strong>Error:</strong> {error.value}
        </p>
      )}
      {answer.value && <Answer a={answer.value} n={answers.value} />}
    </section>
  );
}
