/** @jsxImportSource npm:preact@11.2.0 */
// The predict page's markup: the form (a plain multipart POST that works without JavaScript), the top-5
// table and the frames the model saw. Every user-supplied string reaches the page as Preact text or
// attribute values, which are escaped.

import type { ComponentChildren, VNode } from "npm:preact@11.2.0";
import type { PredictResult } from "../lib/predict/predict.ts";
import type { Thumbnail } from "./predict-job.ts";
import { PredictionTable, Thumbnails } from "./predict-results.tsx";
import { type FormValues, MAX_CHOICES, MAX_UPLOAD_BYTES } from "./predict-input.ts";
import { Island } from "./html.tsx";
import { PredictInBrowser } from "./islands/PredictInBrowser.tsx";
import { BROWSER_JS } from "./predict-browser.ts";

export interface CheckpointChoice {
  path: string;
  runId: number;
  experiment: string;
  kind: string;
  epoch: number;
  top1: number | null;
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

/** The weights fields: a list of the store's checkpoints and the folder's files, or a typed path. */
function WeightsFields(
  { checkpoints, folder, values }: {
    checkpoints: CheckpointChoice[];
    folder?: WeightsFolder;
    values: FormValues;
  },
): VNode {
  return (
    <>
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
    </>
  );
}

/** How the video is sampled: frames per clip, clips, and crops per clip. */
function SamplingFields({ values }: { values: FormValues }): VNode {
  return (
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
  );
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
      <WeightsFields checkpoints={checkpoints} folder={folder} values={values} />
      <p>
        <label>
          Video (at most {Math.round(maxUploadBytes / 1e6)} MB){" "}
          <input type="file" name="video" accept="video/*" required />
        </label>
      </p>
      <p>
        <label>
          Learned prompts, optional (a prompts file from prompt tuning in the page, for these weights){" "}
          <input type="file" name="prompts" accept=".safetensors" />
        </label>
      </p>
      <p>
        <label>
          Class names, comma-separated (with a prompts file: empty for its own){" "}
          <input type="text" name="labels" size={60} value={values.labels ?? ""} />
        </label>
      </p>
      <p>
        <label>
          Prompt template, optional ({"{name}"} is the class name){" "}
          <input type="text" name="template" size={40} value={values.template ?? ""} />
        </label>
      </p>
      <SamplingFields values={values} />
      <p>
        <button type="submit">Predict</button>
      </p>
    </form>
  );
}

export function PredictResultView(
  { result, thumbnails, video, checkpoint, prompts }: {
    result: PredictResult;
    thumbnails: Thumbnail[];
    video: string;
    checkpoint: string;
    /** the uploaded prompts file's name */
    prompts?: string;
  },
): VNode {
  return (
    <section class="predict-result">
      <p>
        {video}: {result.frames} frames × {result.views} view{result.views > 1 ? "s" : ""},{" "}
        {result.probs.length} classes, prompt <code>{result.template}</code>, checkpoint{" "}
        <code>{checkpoint}</code>
        {prompts !== undefined && (
          <>
            , learned prompts <code>{prompts}</code>
          </>
        )}
      </p>
      <PredictionTable predictions={result.predictions} />
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
    result?: {
      result: PredictResult;
      thumbnails: Thumbnail[];
      video: string;
      checkpoint: string;
      prompts?: string;
    };
    maxUploadBytes?: number;
    /** the predict routes' mount point, when the page offers "run in my browser" (web/predict-browser.ts) */
    inBrowser?: { base: string };
  },
): VNode {
  const base = props.inBrowser?.base;
  return (
    <main>
      <h1>Predict</h1>
      {props.error !== undefined && <ErrorView message={props.error} />}
      {props.result && <PredictResultView {...props.result} />}
      {base !== undefined && (
        <>
          <Island
            name="PredictInBrowser"
            component={PredictInBrowser}
            props={{ base, maxUploadBytes: props.maxUploadBytes ?? MAX_UPLOAD_BYTES }}
          />
          {/* this page's own bundle: the model and the page's decoding, too large for every page */}
          <script type="module" src={`${base}/${BROWSER_JS}`}></script>
        </>
      )}
      <PredictForm
        checkpoints={props.checkpoints}
        folder={props.folder}
        values={props.values}
        maxUploadBytes={props.maxUploadBytes}
      />
    </main>
  );
}
