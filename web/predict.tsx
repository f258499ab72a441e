/** @jsxImportSource npm:preact@11.2.0 */
// The dashboard's "try a checkpoint" page: `deno task predict` behind a plain HTML form. It works without
// JavaScript (a multipart POST back to the same URL, so it can be mounted under any path), runs exactly
// lib/cli/predict.ts's `predict` on the upload, and shows the top-5 and the frames the model saw.
// The weights are a finished run's checkpoint or a file in the --weights-dir folder, nothing else: the
// form must not become a way to read the server's files. Predictions run in a worker (predict-queue.ts)
// behind a bounded admission count, so the other pages stay responsive and a burst of uploads gets 503s.
// Every user-supplied string reaches the page as Preact text or attribute values, which are escaped.

import { Hono } from "npm:hono@4.13.19";
import { bodyLimit } from "npm:hono@4.13.19/body-limit";
import { renderToString } from "npm:preact-render-to-string@6.8.2";
import type { ComponentChildren, VNode } from "npm:preact@11.2.0";
import { extname, isAbsolute, join, resolve, sep } from "node:path";
import type { PredictResult } from "../lib/predict/predict.ts";
import type { ResultsStore } from "../lib/results/store.ts";
import type { Thumbnail } from "./predict-job.ts";
import { PredictQueue } from "./predict-queue.ts";
import { LabelListError, parseLabelList } from "../lib/data/labels.ts";

export { thumbnailsOf } from "./predict-job.ts";
export type { Thumbnail } from "./predict-job.ts";

/** The largest video the form accepts. */
export const MAX_UPLOAD_BYTES = 200_000_000;
/** Predictions admitted at once (running, waiting, or still uploading) before the form answers 503. */
export const MAX_QUEUE = 4;
/** The form lists this many of the newest checkpoints; an older one can still be typed in. */
export const MAX_CHOICES = 200;

export interface PredictRoutesOptions {
  store: ResultsStore;
  /**
   * A folder whose files the form may name as weights, besides the results store's checkpoints
   * (`deno task dashboard --weights-dir DIR`). Nothing else on the machine can be opened.
   */
  weightsDir?: string;
  /** default MAX_UPLOAD_BYTES; lower in tests */
  maxUploadBytes?: number;
  /** default MAX_QUEUE */
  maxQueue?: number;
  /** the worker module that runs predictions; tests substitute a stand-in */
  workerUrl?: URL;
  /** wraps a page's body; default a bare HTML document */
  layout?: (title: string, body: VNode) => VNode;
}

export interface PredictRoutes {
  app: Hono;
  /** stops the prediction worker; predictions in flight answer with an error */
  close(): void;
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

/** The checkpoints of finished ("done") runs, newest run first: one query, at most `limit` rows. */
export function checkpointChoices(store: ResultsStore, limit = MAX_CHOICES): CheckpointChoice[] {
  return store.doneCheckpoints({ limit });
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

/** The `--weights-dir` folder and its files, when the dashboard was given one. */
export interface WeightsFolder {
  dir: string;
  files: string[];
}

export function PredictForm(
  { checkpoints, folder, values = {}, maxUploadBytes = MAX_UPLOAD_BYTES }: {
    checkpoints: CheckpointChoice[];
    folder?: WeightsFolder;
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
            {folder?.files.map((f) => (
              <option key={f} value={f} selected={values.checkpoint === f}>{f}</option>
            ))}
          </select>
        </label>
      </p>
      <p>
        <label>
          or the path of a stored checkpoint
          {folder ? ` or of a file in the weights folder ${folder.dir}` : ""}{" "}
          <input type="text" name="checkpointPath" size={60} value={values.checkpointPath ?? ""} />
        </label>
      </p>
      {checkpoints.length >= MAX_CHOICES && (
        <p class="muted">The newest {MAX_CHOICES} checkpoints are listed; type the path of an older one.</p>
      )}
      {!folder && (
        <p class="muted">
          Other weights files can be offered with <code>deno task dashboard --weights-dir DIR</code>.
        </p>
      )}
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
    folder?: WeightsFolder;
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
        folder={props.folder}
        values={props.values}
        maxUploadBytes={props.maxUploadBytes}
      />
    </main>
  );
}

class InputError extends Error {}

/** A weights path the form may not open: 403, and nothing at that path is touched. */
class ForbiddenError extends Error {}

function intField(v: string | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined || v.trim() === "") return def;
  const x = Number(v);
  if (!/^\s*[0-9]+\s*$/.test(v) || !Number.isInteger(x) || x < min || x > max) {
    throw new InputError(`${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return x;
}

function text(v: FormDataEntryValue | null): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function inside(root: string, path: string): boolean {
  return path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The file the form's weights field may open: a checkpoint of a finished run exactly as the store
 * records it, or a regular file inside `weightsDir` (named relative to it or by a path inside it) whose
 * real path, symbolic links followed, is still inside. Anything else is refused before it is opened.
 */
export async function allowedWeights(
  store: ResultsStore,
  weightsDir: string | undefined,
  asked: string,
): Promise<string> {
  if (store.doneCheckpoints({ path: asked, limit: 1 }).length) return asked;
  const refuse = () =>
    new ForbiddenError(
      `checkpoint "${asked}" is not one of the results store's checkpoints (of finished runs)` +
        (weightsDir === undefined
          ? "; to offer other files, start the dashboard with --weights-dir DIR"
          : ` nor a file in the weights folder ${weightsDir}`),
    );
  if (weightsDir === undefined || asked.includes("\0")) throw refuse();
  const given = resolve(weightsDir);
  let root: string;
  try {
    root = await Deno.realPath(given);
  } catch (e) {
    throw new Error(`the weights folder ${weightsDir} cannot be read: ${(e as Error).message}`);
  }
  const lexical = isAbsolute(asked) ? resolve(asked) : resolve(join(root, asked));
  // first by name alone (no file system access for ../ or a path elsewhere), then by real path
  if (!inside(root, lexical) && !inside(given, lexical)) throw refuse();
  let real: string;
  try {
    real = await Deno.realPath(lexical);
  } catch {
    throw new InputError(`there is no file "${asked}" in the weights folder ${weightsDir}`);
  }
  if (!inside(root, real)) throw refuse();
  if (!(await Deno.stat(real)).isFile) {
    throw new InputError(`"${asked}" in the weights folder ${weightsDir} is not a file`);
  }
  return real;
}

/** The weights folder's own files (not its subfolders'), for the form's list; at most MAX_CHOICES. */
async function folderFiles(dir: string | undefined): Promise<string[]> {
  if (dir === undefined) return [];
  const out: string[] = [];
  try {
    const root = await Deno.realPath(dir);
    for await (const e of Deno.readDir(root)) {
      if (e.isFile && !e.name.startsWith(".")) out.push(join(root, e.name));
      if (out.length >= MAX_CHOICES) break;
    }
  } catch { /* an unreadable folder lists nothing; a prediction from it says why */ }
  return out.sort();
}

export function predictRoutes(opts: PredictRoutesOptions): PredictRoutes {
  const app = new Hono();
  const limit = opts.maxUploadBytes ?? MAX_UPLOAD_BYTES;
  const maxQueue = opts.maxQueue ?? MAX_QUEUE;
  const layout = opts.layout ?? ((title: string, body: VNode) => <Document title={title}>{body}</Document>);
  const html = (body: VNode) => "<!doctype html>" + renderToString(layout("vifi · predict", body));
  const queue = new PredictQueue(opts.workerUrl);
  // requests between admission and answer, uploads still arriving included: what bounds the memory
  // uploads hold and the work waiting for the one model thread
  let admitted = 0;

  const page = async (
    props: Omit<Parameters<typeof PredictPage>[0], "checkpoints" | "maxUploadBytes" | "folder">,
    files?: string[],
  ) =>
    html(
      <PredictPage
        checkpoints={checkpointChoices(opts.store)}
        folder={opts.weightsDir === undefined ? undefined : {
          dir: opts.weightsDir,
          files: files ?? await folderFiles(opts.weightsDir),
        }}
        maxUploadBytes={limit}
        {...props}
      />,
    );

  // The empty form is the same page until the store or the folder changes; rendering its list for
  // every request would make twenty open tabs wait on each other.
  let blank: { key: string; html: string } | undefined;
  app.get("/", async (c) => {
    const files = await folderFiles(opts.weightsDir);
    const key = `${opts.store.changeStamp()}\0${files.join("\0")}`;
    if (blank?.key !== key) blank = { key, html: await page({}, files) };
    return c.html(blank.html);
  });

  app.post(
    "/",
    async (c, next) => {
      if (admitted >= maxQueue) {
        c.header("retry-after", "30");
        return c.html(
          await page({
            error: `the prediction queue is full (${admitted} predictions running or waiting, at most ` +
              `${maxQueue}); try again when one has finished`,
          }),
          503,
        );
      }
      admitted++;
      try {
        await next();
      } finally {
        admitted--;
      }
    },
    // The form's other fields are small; the slack keeps a video just under the limit from failing on
    // the multipart framing around it, and the file's own size is checked exactly below.
    bodyLimit({
      maxSize: limit + 1_000_000,
      onError: async (c) =>
        c.html(
          await page({ error: `the upload is larger than the ${Math.round(limit / 1e6)} MB limit` }),
          400,
        ),
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
        if (!values.labels?.trim()) throw new InputError("no class names given");
        const labels = classNames(values.labels);
        const frames = intField(values.frames, "frames", 8, 1, 64);
        const clips = intField(values.clips, "clips", 1, 1, 10);
        const crops = intField(values.crops, "crops", 1, 1, 3);
        if (crops !== 1 && crops !== 3) throw new InputError(`crops must be 1 or 3, got ${crops}`);
        const template = values.template?.trim() ? values.template : undefined;
        if (template !== undefined && !template.includes("{name}")) {
          throw new InputError(`the prompt template "${template}" has no {name} for the class name`);
        }
        const typed = values.checkpointPath?.trim() ?? "";
        const asked = typed !== "" ? typed : (values.checkpoint ?? "");
        if (asked === "") throw new InputError("choose a checkpoint or give a weights file path");
        const weights = await allowedWeights(opts.store, opts.weightsDir, asked);
        // the decoder reads from a path; the upload's own extension keeps its container recognisable
        const ext = extname(file.name).replace(/[^.A-Za-z0-9]/g, "").slice(0, 8);
        tmp = await Deno.makeTempFile({ prefix: "vifi-upload-", suffix: ext });
        await Deno.writeFile(tmp, file.stream());
        const fileName = file.name || "upload";
        const reply = await queue.run({
          video: tmp,
          fileName,
          weights,
          labels,
          frames,
          clips,
          crops,
          template,
        });
        if (!reply.ok) {
          const status = reply.kind === "input" ? 400 : reply.kind === "gpu" ? 503 : 500;
          const error = reply.kind === "gpu" ? `no GPU to run on: ${reply.message}` : reply.message;
          return c.html(await page({ values, error }), status);
        }
        const { result, thumbnails } = reply;
        return c.html(
          await page({ values, result: { result, thumbnails, video: file.name, checkpoint: asked } }),
        );
      } catch (e) {
        const message = (e instanceof Error ? e.message : String(e)).replace(/^vifi: /, "");
        // the form is at fault for these; anything else is the server's
        const status = e instanceof ForbiddenError ? 403 : e instanceof InputError ? 400 : 500;
        return c.html(await page({ values, error: message }), status);
      } finally {
        if (tmp) await Deno.remove(tmp).catch(() => {});
      }
    },
  );
  return { app, close: () => queue.close() };
}

/** The form's class names with the command line's rules: CSV quoting, no empty or repeated names. */
function classNames(text: string): string[] {
  try {
    return parseLabelList(text, "class names");
  } catch (e) {
    if (e instanceof LabelListError) throw new InputError(e.message);
    throw e;
  }
}
