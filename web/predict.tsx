/** @jsxImportSource npm:preact@11.2.0 */
// The dashboard's "try a checkpoint" page: `deno task predict` behind a plain HTML form. It works without
// JavaScript (a multipart POST back to the same URL, so it can be mounted under any path), runs exactly
// lib/cli/predict.ts's `predict` on the upload, and shows the top-5 and the frames the model saw.
// Every user-supplied string reaches the page as Preact text or attribute values, which are escaped.

import { Hono } from "npm:hono@4.13.19";
import { bodyLimit } from "npm:hono@4.13.19/body-limit";
import { renderToString } from "npm:preact-render-to-string@6.8.2";
import type { ComponentChildren, VNode } from "npm:preact@11.2.0";
import { Buffer } from "node:buffer";
import { extname } from "node:path";
import type { ResultsStore } from "../lib/results/store.ts";
import { getRuntime, type Runtime } from "../lib/gpu/runtime.ts";
import { predict, type PredictResult } from "../lib/cli/predict.ts";
import { decodeFrames, openVideo, VideoError } from "../lib/video/decode.ts";
import { encodePng } from "../lib/video/png.ts";
import { resizeBilinear } from "../lib/video/transforms.ts";
import { sampleForMode } from "../lib/video/sampling.ts";
import { Rng } from "../lib/selftest/rng.ts";

/** The largest video the form accepts. */
export const MAX_UPLOAD_BYTES = 200_000_000;
const MAX_THUMBNAILS = 32;
const THUMB_SIDE = 112;

export interface PredictRoutesOptions {
  store: ResultsStore;
  /**
   * Acquires the GPU before a prediction, so that a machine without an adapter gets a clear 503 page
   * instead of a failure half-way; default getRuntime() (predict itself always uses that shared runtime).
   */
  runtime?: () => Promise<Runtime>;
  /** default MAX_UPLOAD_BYTES; lower in tests */
  maxUploadBytes?: number;
  /** wraps a page's body; default a bare HTML document */
  layout?: (title: string, body: VNode) => VNode;
}

export interface CheckpointChoice {
  path: string;
  runId: number;
  experiment: string;
  kind: string;
  epoch: number;
  top1: number | null;
}

export interface FormValues {
  checkpoint?: string;
  checkpointPath?: string;
  labels?: string;
  frames?: string;
  clips?: string;
  crops?: string;
  template?: string;
}

export interface Thumbnail {
  /** the frame's index in the video */
  index: number;
  /** data:image/png;base64,… */
  src: string;
  width: number;
  height: number;
}

/** Every checkpoint of every finished ("done") run, newest run first. */
export function checkpointChoices(store: ResultsStore): CheckpointChoice[] {
  const out: CheckpointChoice[] = [];
  for (const r of store.listRuns({ status: "done" })) {
    const run = store.getRun(r.id);
    for (const c of run?.checkpoints ?? []) {
      out.push({
        path: c.path,
        runId: r.id,
        experiment: r.experiment,
        kind: c.kind,
        epoch: c.epoch,
        top1: c.top1 ?? null,
      });
    }
  }
  return out;
}

export function Document({ title, children }: { title: string; children: ComponentChildren }): VNode {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
      </head>
      <body>{children}</body>
    </html>
  );
}

export function PredictForm(
  { checkpoints, values = {}, maxUploadBytes = MAX_UPLOAD_BYTES }: {
    checkpoints: CheckpointChoice[];
    values?: FormValues;
    maxUploadBytes?: number;
  },
): VNode {
  return (
    <form method="post" enctype="multipart/form-data" class="predict-form">
      <p>
        <label>
          Checkpoint{" "}
          <select name="checkpoint">
            <option value="">(the path below)</option>
            {checkpoints.map((c) => (
              <option value={c.path} selected={values.checkpoint === c.path}>
                run {c.runId} {c.experiment} · {c.kind} epoch {c.epoch}
                {c.top1 === null ? "" : ` · top-1 ${c.top1.toFixed(1)} %`} · {c.path}
              </option>
            ))}
          </select>
        </label>
      </p>
      <p>
        <label>
          or a weights file on the server{" "}
          <input type="text" name="checkpointPath" size={60} value={values.checkpointPath ?? ""} />
        </label>
      </p>
      <p>
        <label>
          Video (at most {Math.round(maxUploadBytes / 1e6)} MB){" "}
          <input type="file" name="video" accept="video/*" required />
        </label>
      </p>
      <p>
        <label>
          Class names, comma-separated{" "}
          <input type="text" name="labels" size={60} required value={values.labels ?? ""} />
        </label>
      </p>
      <p>
        <label>
          Prompt template, optional ({"{name}"} is the class name){" "}
          <input type="text" name="template" size={40} value={values.template ?? ""} />
        </label>
      </p>
      <p>
        <label>
          frames <input type="number" name="frames" min={1} max={64} value={values.frames ?? "8"} />
        </label>{" "}
        <label>
          clips <input type="number" name="clips" min={1} max={10} value={values.clips ?? "1"} />
        </label>{" "}
        <label>
          crops{" "}
          <select name="crops">
            <option value="1" selected={values.crops !== "3"}>1</option>
            <option value="3" selected={values.crops === "3"}>3</option>
          </select>
        </label>
      </p>
      <p>
        <button type="submit">Predict</button>
      </p>
    </form>
  );
}

export function PredictionTable({ result }: { result: PredictResult }): VNode {
  return (
    <table class="predictions">
      <thead>
        <tr>
          <th>#</th>
          <th>class</th>
          <th>probability</th>
        </tr>
      </thead>
      <tbody>
        {result.predictions.map((p, i) => (
          <tr>
            <td>{i + 1}</td>
            <td class="label">{p.label}</td>
            <td class="prob" data-prob={String(p.prob)}>{(100 * p.prob).toFixed(2)} %</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Thumbnails({ thumbnails }: { thumbnails: Thumbnail[] }): VNode {
  return (
    <div class="thumbnails">
      {thumbnails.map((t) => (
        <figure class="thumb">
          <img src={t.src} width={t.width} height={t.height} alt={`frame ${t.index}`} />
          <figcaption>frame {t.index}</figcaption>
        </figure>
      ))}
    </div>
  );
}

export function PredictResultView(
  { result, thumbnails, video, checkpoint }: {
    result: PredictResult;
    thumbnails: Thumbnail[];
    video: string;
    checkpoint: string;
  },
): VNode {
  return (
    <section class="predict-result">
      <p>
        {video}: {result.frames} frames × {result.views} view{result.views > 1 ? "s" : ""},{" "}
        {result.probs.length} classes, prompt <code>{result.template}</code>, checkpoint{" "}
        <code>{checkpoint}</code>
      </p>
      <PredictionTable result={result} />
      <Thumbnails thumbnails={thumbnails} />
    </section>
  );
}

export function ErrorView({ message }: { message: string }): VNode {
  return (
    <p class="error" role="alert">
      <strong>Error:</strong> {message}
    </p>
  );
}

export function PredictPage(
  props: {
    checkpoints: CheckpointChoice[];
    values?: FormValues;
    error?: string;
    result?: { result: PredictResult; thumbnails: Thumbnail[]; video: string; checkpoint: string };
    maxUploadBytes?: number;
  },
): VNode {
  return (
    <main>
      <h1>Predict</h1>
      {props.error !== undefined && <ErrorView message={props.error} />}
      {props.result && <PredictResultView {...props.result} />}
      <PredictForm
        checkpoints={props.checkpoints}
        values={props.values}
        maxUploadBytes={props.maxUploadBytes}
      />
    </main>
  );
}

/** The sampled frames of `video` (the indices prepareVideo takes with the same seed) as small PNGs. */
export async function thumbnailsOf(
  bytes: Uint8Array,
  fileName: string,
  frames: number,
  clips: number,
  seed = 0,
): Promise<Thumbnail[]> {
  const info = await openVideo(bytes, fileName);
  const idx = sampleForMode("test", info.frameCount, frames, clips, new Rng(seed));
  const unique = [...new Set(idx)].sort((a, b) => a - b).slice(0, MAX_THUMBNAILS);
  const decoded = await decodeFrames(bytes, fileName, unique, info);
  const out: Thumbnail[] = [];
  for (let k = 0; k < unique.length; k++) {
    const f = decoded[k];
    const scale = Math.min(1, THUMB_SIDE / Math.max(f.width, f.height));
    const w = Math.max(1, Math.round(f.width * scale)), h = Math.max(1, Math.round(f.height * scale));
    const small = scale < 1 ? resizeBilinear(f, w, h) : f;
    const png = await encodePng(small.width, small.height, small.data);
    out.push({
      index: unique[k],
      src: `data:image/png;base64,${Buffer.from(png).toString("base64")}`,
      width: small.width,
      height: small.height,
    });
  }
  return out;
}

class InputError extends Error {}

function intField(v: string | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined || v.trim() === "") return def;
  const x = Number(v);
  if (!Number.isInteger(x) || x < min || x > max) {
    throw new InputError(`${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return x;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

function text(v: FormDataEntryValue | null): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function predictRoutes(opts: PredictRoutesOptions): Hono {
  const app = new Hono();
  const limit = opts.maxUploadBytes ?? MAX_UPLOAD_BYTES;
  const runtime = opts.runtime ?? getRuntime;
  const layout = opts.layout ?? ((title: string, body: VNode) => <Document title={title}>{body}</Document>);
  const html = (body: VNode) => "<!doctype html>" + renderToString(layout("vifi · predict", body));
  // one prediction at a time: each loads its own model onto the one GPU
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T,>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
  };

  const page = (
    props: Omit<Parameters<typeof PredictPage>[0], "checkpoints" | "maxUploadBytes">,
  ) => html(<PredictPage checkpoints={checkpointChoices(opts.store)} maxUploadBytes={limit} {...props} />);

  app.get("/", (c) => c.html(page({})));

  app.post(
    "/",
    // The form's other fields are small; the slack keeps a video just under the limit from failing on
    // the multipart framing around it, and the file's own size is checked exactly below.
    bodyLimit({
      maxSize: limit + 1_000_000,
      onError: (c) =>
        c.html(page({ error: `the upload is larger than the ${Math.round(limit / 1e6)} MB limit` }), 400),
    }),
    async (c) => {
      let values: FormValues = {};
      let tmp: string | undefined;
      try {
        let form: FormData;
        try {
          form = await c.req.raw.formData();
        } catch {
          throw new InputError("expected a multipart/form-data form with a video and class names");
        }
        values = {
          checkpoint: text(form.get("checkpoint")),
          checkpointPath: text(form.get("checkpointPath")),
          labels: text(form.get("labels")),
          frames: text(form.get("frames")),
          clips: text(form.get("clips")),
          crops: text(form.get("crops")),
          template: text(form.get("template")),
        };
        const file = form.get("video");
        if (!(file instanceof File) || file.size === 0) throw new InputError("no video uploaded");
        if (file.size > limit) {
          throw new InputError(
            `the video is ${(file.size / 1e6).toFixed(1)} MB, over the ${Math.round(limit / 1e6)} MB limit`,
          );
        }
        const labels = (values.labels ?? "").split(",").map((s) => s.trim());
        if (labels.length === 1 && labels[0] === "") throw new InputError("no class names given");
        if (labels.some((l) => l === "")) {
          throw new InputError(`an empty class name in "${values.labels}" (names are comma-separated)`);
        }
        const frames = intField(values.frames, "frames", 8, 1, 64);
        const clips = intField(values.clips, "clips", 1, 1, 10);
        const crops = intField(values.crops, "crops", 1, 1, 3);
        if (crops !== 1 && crops !== 3) throw new InputError(`crops must be 1 or 3, got ${crops}`);
        const template = values.template?.trim() ? values.template : undefined;
        if (template !== undefined && !template.includes("{name}")) {
          throw new InputError(`the prompt template "${template}" has no {name} for the class name`);
        }
        const typed = values.checkpointPath?.trim() ?? "";
        const weights = typed !== "" ? typed : (values.checkpoint ?? "");
        if (weights === "") throw new InputError("choose a checkpoint or give a weights file path");
        const known = checkpointChoices(opts.store).some((k) => k.path === weights);
        // a path typed into a web form is only followed to a file that exists; a stored one is trusted
        if (!known && !(await isFile(weights))) {
          throw new InputError(
            `checkpoint "${weights}" is not one of the results store's checkpoints and no such file exists`,
          );
        }
        try {
          await runtime();
        } catch (e) {
          return c.html(page({ values, error: `no GPU to run on: ${(e as Error).message}` }), 503);
        }
        const bytes = new Uint8Array(await file.arrayBuffer());
        // a file that is not a video is the upload's fault (400), found before a model is loaded for it
        await openVideo(bytes, file.name || "upload");
        // the decoder reads from a path; the upload's own extension keeps its container recognisable
        const ext = extname(file.name).replace(/[^.A-Za-z0-9]/g, "").slice(0, 8);
        tmp = await Deno.makeTempFile({ prefix: "vifi-upload-", suffix: ext });
        await Deno.writeFile(tmp, bytes);
        const path = tmp;
        const { result, thumbnails } = await serial(async () => {
          const result = await predict(path, { weights, labels, frames, clips, crops, template, top: 5 });
          const thumbnails = await thumbnailsOf(bytes, file.name || "upload", frames, clips);
          return { result, thumbnails };
        });
        return c.html(
          page({ values, result: { result, thumbnails, video: file.name, checkpoint: weights } }),
        );
      } catch (e) {
        const message = (e instanceof Error ? e.message : String(e)).replace(/^vifi: /, "");
        // the upload or the form is at fault for these; anything else is the server's
        const status = e instanceof InputError || e instanceof VideoError ? 400 : 500;
        return c.html(page({ values, error: message }), status);
      } finally {
        if (tmp) await Deno.remove(tmp).catch(() => {});
      }
    },
  );
  return app;
}
