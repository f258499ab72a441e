/** @jsxImportSource npm:preact@11.2.0 */
// The dashboard's "try a checkpoint" page: `deno task predict` behind a plain HTML form. It works without
// JavaScript (a multipart POST back to the same URL, so it can be mounted under any path), runs exactly
// lib/predict/predict.ts's `predict` on the upload, and shows the top-5 and the frames the model saw.
// The weights are a finished run's checkpoint or a file in the --weights-dir folder, nothing else
// (predict-weights.ts): the form must not become a way to read the server's files. Predictions run in a
// worker (predict-queue.ts) behind a bounded admission count, so the other pages stay responsive and a
// burst of uploads gets 503s. The page's markup is predict-page.tsx; the form's checks predict-input.ts.

import { type Handler, Hono, type MiddlewareHandler } from "npm:hono@4.13.19";
import { bodyLimit } from "npm:hono@4.13.19/body-limit";
import { renderToString } from "npm:preact-render-to-string@6.8.2";
import type { VNode } from "npm:preact@11.2.0";
import { extname } from "node:path";
import type { ResultsStore } from "../lib/results/store.ts";
import {
  checkInput,
  type FormValues,
  formValues,
  InputError,
  MAX_CHOICES,
  MAX_UPLOAD_BYTES,
  readForm,
} from "./predict-input.ts";
import { type CheckpointChoice, Document, PredictPage } from "./predict-page.tsx";
import { PredictQueue } from "./predict-queue.ts";
import { allowedWeights, folderFiles, ForbiddenError } from "./predict-weights.ts";
import { browserRoutes } from "./predict-browser.ts";

export { thumbnailsOf } from "./predict-job.ts";
export type { Thumbnail } from "./predict-job.ts";
export { type FormValues, MAX_CHOICES, MAX_UPLOAD_BYTES } from "./predict-input.ts";
export {
  type CheckpointChoice,
  Document,
  ErrorView,
  PredictForm,
  PredictPage,
  PredictResultView,
  type WeightsFolder,
} from "./predict-page.tsx";
export { PredictionTable, Thumbnails } from "./predict-results.tsx";
export { allowedWeights } from "./predict-weights.ts";

/** Predictions admitted at once (running, waiting, or still uploading) before the form answers 503. */
export const MAX_QUEUE = 4;

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
  /**
   * Offer "run in my browser" (web/predict-browser.ts: an island and the page's model bundle). Default:
   * with a `layout` (the dashboard's shell, whose pages run islands already), not on the bare document,
   * which stays a page without any script.
   */
  inBrowser?: boolean;
  /** the in-browser page bundle's source (tests); default `deno bundle`d on first request */
  browserBundle?: () => Promise<string>;
}

export interface PredictRoutes {
  app: Hono;
  /** stops the prediction worker; predictions in flight answer with an error */
  close(): void;
  /** starts building the in-browser page bundle now rather than on the first predict page's request */
  warmBrowser(): void;
}

/** The checkpoints of finished ("done") runs, newest run first: one query, at most `limit` rows. */
export function checkpointChoices(store: ResultsStore, limit = MAX_CHOICES): CheckpointChoice[] {
  return store.doneCheckpoints({ limit });
}

/** What a rendering of the page is given besides the lists and the limit, which it looks up itself. */
type PageProps =
  & Omit<
    Parameters<typeof PredictPage>[0],
    "checkpoints" | "maxUploadBytes" | "folder" | "inBrowser"
  >
  & {
    /** the request's path: where the routes are mounted, for the in-browser page's URLs */
    at: string;
  };
/** The whole page as HTML; `files` is the weights folder's listing when the caller already has it. */
type RenderPage = (props: PageProps, files?: string[]) => Promise<string>;

function pageRenderer(opts: PredictRoutesOptions, limit: number): RenderPage {
  const layout = opts.layout ?? ((title: string, body: VNode) => <Document title={title}>{body}</Document>);
  const html = (body: VNode) => "<!doctype html>" + renderToString(layout("vifi · predict", body));
  return async ({ at, ...props }, files) =>
    html(
      <PredictPage
        inBrowser={(opts.inBrowser ?? opts.layout !== undefined)
          ? { base: at.replace(/\/+$/, "") }
          : undefined}
        checkpoints={checkpointChoices(opts.store)}
        folder={opts.weightsDir === undefined ? undefined : {
          dir: opts.weightsDir,
          files: files ?? await folderFiles(opts.weightsDir),
        }}
        maxUploadBytes={limit}
        {...props}
      />,
    );
}

/**
 * Counts the requests between admission and answer, uploads still arriving included: what bounds the
 * memory uploads hold and the work waiting for the one model thread. Past `maxQueue` the form answers 503.
 */
function admission(maxQueue: number, page: RenderPage): MiddlewareHandler {
  let admitted = 0;
  return async (c, next) => {
    if (admitted >= maxQueue) {
      c.header("retry-after", "30");
      return c.html(
        await page({
          at: c.req.path,
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
  };
}

/**
 * The request body's bound. The form's other fields are small; the slack keeps a video just under the
 * limit from failing on the multipart framing around it, and the file's own size is checked exactly later.
 */
function uploadLimit(limit: number, page: RenderPage): MiddlewareHandler {
  return bodyLimit({
    maxSize: limit + 1_000_000,
    onError: async (c) =>
      c.html(
        await page({
          at: c.req.path,
          error: `the upload is larger than the ${Math.round(limit / 1e6)} MB limit`,
        }),
        400,
      ),
  });
}

/** Writes the upload to a temporary file: the decoder reads from a path. */
async function saveUpload(file: File): Promise<string> {
  // the upload's own extension keeps its container recognisable
  const ext = extname(file.name).replace(/[^.A-Za-z0-9]/g, "").slice(0, 8);
  const tmp = await Deno.makeTempFile({ prefix: "vifi-upload-", suffix: ext });
  await Deno.writeFile(tmp, file.stream());
  return tmp;
}

/** Checks the form, allows the weights, runs the prediction in the queue and answers with the page. */
function predictHandler(
  opts: PredictRoutesOptions,
  limit: number,
  page: RenderPage,
  queue: PredictQueue,
): Handler {
  return async (c) => {
    let values: FormValues = {};
    let tmp: string | undefined;
    try {
      const form = await readForm(c.req.raw);
      values = formValues(form);
      const { file, labels, frames, clips, crops, template, asked, prompts } = checkInput(
        form,
        values,
        limit,
      );
      const weights = await allowedWeights(opts.store, opts.weightsDir, asked);
      tmp = await saveUpload(file);
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
        prompts: prompts &&
          { name: prompts.name || "prompts", bytes: new Uint8Array(await prompts.arrayBuffer()) },
      });
      if (!reply.ok) {
        const status = reply.kind === "input" ? 400 : reply.kind === "gpu" ? 503 : 500;
        const error = reply.kind === "gpu" ? `no GPU to run on: ${reply.message}` : reply.message;
        return c.html(await page({ at: c.req.path, values, error }), status);
      }
      const { result, thumbnails } = reply;
      return c.html(
        await page({
          at: c.req.path,
          values,
          result: { result, thumbnails, video: file.name, checkpoint: asked, prompts: prompts?.name },
        }),
      );
    } catch (e) {
      const message = (e instanceof Error ? e.message : String(e)).replace(/^vifi: /, "");
      // the form is at fault for these; anything else is the server's
      const status = e instanceof ForbiddenError ? 403 : e instanceof InputError ? 400 : 500;
      return c.html(await page({ at: c.req.path, values, error: message }), status);
    } finally {
      if (tmp) await Deno.remove(tmp).catch(() => {});
    }
  };
}

export function predictRoutes(opts: PredictRoutesOptions): PredictRoutes {
  const app = new Hono();
  const limit = opts.maxUploadBytes ?? MAX_UPLOAD_BYTES;
  const page = pageRenderer(opts, limit);
  const queue = new PredictQueue(opts.workerUrl);

  // The empty form is the same page until the store or the folder changes; rendering its list for
  // every request would make twenty open tabs wait on each other.
  let blank: { key: string; html: string } | undefined;
  app.get("/", async (c) => {
    const files = await folderFiles(opts.weightsDir);
    const key = `${c.req.path}\0${opts.store.changeStamp()}\0${files.join("\0")}`;
    if (blank?.key !== key) blank = { key, html: await page({ at: c.req.path }, files) };
    return c.html(blank.html);
  });

  app.post(
    "/",
    admission(opts.maxQueue ?? MAX_QUEUE, page),
    uploadLimit(limit, page),
    predictHandler(opts, limit, page, queue),
  );
  const browser = browserRoutes(app, {
    store: opts.store,
    weightsDir: opts.weightsDir,
    bundle: opts.browserBundle,
  });
  return { app, close: () => queue.close(), warmBrowser: () => browser.warm() };
}
