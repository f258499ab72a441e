/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// "Teach new classes": a name and a few videos per class, the prompt vectors learned on this page's GPU by
// lib/browser/prompt-tune.ts (CLIP frozen, the paper's prompting variant) with the loss drawn as each step
// lands and a Stop button, then videos classified with the learned prompts and the prompts file offered for
// download (what `deno task predict --prompts FILE` and the dashboard load).

import { getRuntime } from "../../gpu/runtime.ts";
import type { LoadedModel } from "../../models/load.ts";
import { tokenizerFor } from "../../models/load.ts";
import { CLIP_VOCAB_SIZE, type TextTokenizer } from "../../text/tokenizer.ts";
import { releasePageModel } from "../predict.ts";
import { clipProbabilities, stackClips, tunePrompts } from "../prompt-tune.ts";
import { clipTokenizerFrom } from "../tokens.ts";
import { prepareVideoInPage } from "../video.ts";
import { fetchWeights, modelFromBytes } from "../weights.ts";
import { modelUrl, type SiteManifest } from "./manifest.ts";
import type { AppState } from "./state.ts";
import { byId, drawLoss, dropZone, errorLine, showTop, weightsProgress } from "./ui.ts";

interface Teachable {
  loaded: LoadedModel;
  tokenizer: TextTokenizer;
}

/** The model prompts are learned on: its own copy (the classify pane's stays untouched), built once. */
let teachable: Promise<Teachable> | undefined;

async function teachModel(m: SiteManifest): Promise<Teachable> {
  // one model on the GPU at a time: training needs the memory more than classify needs its copy kept
  releasePageModel();
  const rt = await getRuntime();
  const got = await fetchWeights(modelUrl(m), weightsProgress);
  byId("weights").hidden = true;
  const loaded = await modelFromBytes(rt, got.bytes, got.url);
  const saved = loaded.checkpoint?.model.tokenizer;
  const kind = saved?.kind ?? (loaded.config.text.vocab === CLIP_VOCAB_SIZE ? "clip" : "bytes");
  if (kind === "clip" && !m.vocab) {
    throw new Error("vifi: this model reads CLIP's BPE tokens and the site has no vocabulary");
  }
  const tokenizer = kind === "clip" ? await clipTokenizerFrom(m.vocab!) : await tokenizerFor({
    tokenizer: kind,
    words: saved?.words ? { list: saved.words, source: `the word list saved in ${m.model.file}` } : undefined,
    config: loaded.config,
  });
  return { loaded, tokenizer };
}

interface ClassRow {
  name: HTMLInputElement;
  files: File[];
}

function addClassRow(rows: ClassRow[], onChange: () => void, name = ""): void {
  const box = document.createElement("div");
  box.className = "teach-class";
  const input = Object.assign(document.createElement("input"), {
    type: "text",
    className: "teach-name",
    placeholder: "class name",
    value: name,
  });
  const zone = document.createElement("label");
  zone.className = "drop";
  const files = Object.assign(document.createElement("input"), {
    type: "file",
    className: "teach-files",
    accept: "video/*",
    multiple: true,
    hidden: true,
  });
  const count = document.createElement("span");
  count.textContent = "Drop this class's videos here, or click to choose them";
  zone.append(count, files);
  const row: ClassRow = { name: input, files: [] };
  dropZone(zone, files, (got) => {
    row.files.push(...got);
    count.textContent = `${row.files.length} video${row.files.length === 1 ? "" : "s"}: ` +
      row.files.map((f) => f.name).join(", ");
    onChange();
  });
  input.addEventListener("input", onChange);
  box.append(input, zone);
  byId("teach-classes").append(box);
  rows.push(row);
}

const numberIn = (id: string): number | undefined => {
  const v = byId<HTMLInputElement>(id).value.trim();
  return v === "" ? undefined : Number(v);
};

/** Every dropped video as one clip of T frames, the model's input, labelled with its class's index. */
async function prepareClips(rows: ClassRow[], T: number, size: number, say: (s: string) => void) {
  const items: { frames: Float32Array; label: number }[] = [];
  const all = rows.flatMap((r, label) => r.files.map((f) => ({ f, label })));
  for (const [i, { f, label }] of all.entries()) {
    say(`decoding video ${i + 1} of ${all.length}…`);
    const prep = await prepareVideoInPage(
      { path: f.name, mode: "test", frames: T, clips: 1, crops: 1, size, seed: 0 },
      new Uint8Array(await f.arrayBuffer()),
    );
    items.push({ frames: prep.data, label });
  }
  return stackClips(items, T);
}

export function setupTeach(app: AppState): void {
  const m = app.manifest!;
  const rows: ClassRow[] = [];
  const run = byId<HTMLButtonElement>("teach-run"), stop = byId<HTMLButtonElement>("teach-stop");
  const status = byId("teach-status"),
    result = byId("teach-result"),
    svg = byId("teach-loss") as unknown as SVGSVGElement;
  const ready = () => rows.filter((r) => r.name.value.trim() && r.files.length);
  const busy = () => app.teach.state === "preparing" || app.teach.state === "training";
  const update = () => (run.disabled = busy() || ready().length < 2 || !app.webgpu?.available);
  for (const name of ["", ""]) addClassRow(rows, update, name);
  byId("teach-add").addEventListener("click", () => addClassRow(rows, update));
  let abort: AbortController | undefined;
  let learned: { tokens: Int32Array; classes: string[]; bytes: Uint8Array } | undefined;
  stop.addEventListener("click", () => abort?.abort());

  run.addEventListener("click", async () => {
    const use = ready();
    const classes = use.map((r) => r.name.value.trim());
    const steps = numberIn("teach-steps") ?? 40;
    abort = new AbortController();
    app.teach = { state: "preparing", classes, losses: [] };
    result.dataset.state = "preparing";
    result.hidden = true;
    stop.disabled = false;
    update();
    try {
      status.textContent = "loading the model…";
      const { loaded, tokenizer } = await (teachable ??= teachModel(m).catch((e) => {
        teachable = undefined;
        throw e;
      }));
      const T = m.frames, S = loaded.config.vision.resolution;
      const clips = await prepareClips(use, T, S, (s) => (status.textContent = s));
      if (abort.signal.aborted) throw new Error("stopped before the first step");
      app.teach.state = "training";
      status.textContent = "step 1: recording the step and compiling its GPU programs (the slow one)…";
      const r = await tunePrompts({
        model: loaded.model,
        clips,
        classes,
        tokenizer,
        steps,
        lr: numberIn("teach-lr"),
        batch: numberIn("teach-batch"),
        weightsName: m.model.file.split("/").pop(),
        signal: abort.signal,
        onStep: (s) => {
          app.teach.losses.push(s.loss);
          drawLoss(svg, app.teach.losses, steps);
          status.textContent = `step ${s.step} of ${steps}: loss ${s.loss.toFixed(4)} (${
            s.ms.toFixed(0)
          } ms)`;
        },
      });
      learned = { tokens: r.tokens, classes, bytes: r.bytes };
      app.teach = { ...app.teach, state: "trained", stopped: r.stopped, msPerStep: r.msPerStep };
      status.textContent = `${r.stopped ? "stopped" : "done"}: loss ${r.losses[0].toFixed(4)} → ` +
        `${r.losses.at(-1)!.toFixed(4)} in ${r.losses.length} steps (${r.msPerStep.toFixed(0)} ms a step)`;
    } catch (e) {
      app.teach = { ...app.teach, state: "error", error: errorLine(e) };
      status.textContent = errorLine(e);
    }
    stop.disabled = true;
    result.hidden = !learned;
    result.dataset.state = app.teach.state;
    update();
  });

  byId("teach-download").addEventListener("click", () => {
    if (!learned) return;
    const url = URL.createObjectURL(new Blob([learned.bytes as Uint8Array<ArrayBuffer>]));
    const base = (m.model.file.split("/").pop() ?? "model").replace(/\.[^.]*$/, "");
    const a = Object.assign(document.createElement("a"), {
      href: url,
      download: `${base}.prompts.safetensors`,
    });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });

  dropZone(byId("teach-drop"), byId<HTMLInputElement>("teach-file"), async (files) => {
    if (!learned || !teachable) return;
    const table = byId<HTMLTableElement>("teach-top");
    try {
      const { loaded } = await teachable;
      const T = m.frames, S = loaded.config.vision.resolution, C = learned.classes.length;
      const prep = await prepareVideoInPage(
        { path: files[0].name, mode: "test", frames: T, clips: 1, crops: 1, size: S, seed: 0 },
        new Uint8Array(await files[0].arrayBuffer()),
      );
      const probs = Array.from(await clipProbabilities(loaded.model, prep.data, T, learned.tokens, C));
      const predictions = learned.classes.map((label, i) => ({ label, prob: probs[i] }))
        .sort((a, b) => b.prob - a.prob).slice(0, 5);
      showTop(table, predictions);
      app.teach = { ...app.teach, predictions, probs };
      table.dataset.state = "done";
    } catch (e) {
      table.replaceChildren();
      table.dataset.state = "error";
      status.textContent = errorLine(e);
    }
  });
  update();
}
