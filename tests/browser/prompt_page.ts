// The page side of prompt_tune_page_test.ts, bundled for Chromium: it builds the frozen tiny model from the
// safetensors the test serves, scores the held-out clips under the untrained prompts, tunes the prompts on
// the training clips with lib/browser/prompt-tune.ts (each step's loss POSTed to /report as it lands),
// scores the held-out clips again, and hands back the losses, both sets of probabilities, the prompts
// file's bytes and whether CLIP's weights came out as they went in. Found by the test as globalThis.promptPage.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { clipConfig, type Weights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { ByteTokenizer } from "../../lib/text/tokenizer.ts";
import { clipProbabilities, type PromptTuneOptions, tunePrompts } from "../../lib/browser/prompt-tune.ts";

export interface PromptPageArgs {
  weights: string;
  arch: string;
  train: string;
  held: string;
  trainLabels: number[];
  classes: string[];
  T: number;
  prompt: PromptTuneOptions["prompt"];
  steps: number;
  lr: number;
  seed: number;
}

export interface PromptPageResult {
  losses: number[];
  /** [N, C] held-out probabilities before (untrained prompts) and after tuning */
  before: number[];
  after: number[];
  fileBytes: number[];
  msPerStep: number;
  weightsUnchanged: boolean;
  adapter: string;
}

async function floats(url: string): Promise<Float32Array> {
  return new Float32Array(await (await fetch(url)).arrayBuffer());
}

function equalBytes(a: Weights, b: Weights): boolean {
  for (const [name, t] of a) {
    const u = b.get(name)!.data;
    if (u.length !== t.data.length || t.data.some((v, i) => !Object.is(v, u[i]))) return false;
  }
  return a.size === b.size;
}

async function run(a: PromptPageArgs): Promise<PromptPageResult> {
  const rt = await getRuntime();
  const bytes = new Uint8Array(await (await fetch(a.weights)).arrayBuffer());
  const weights: Weights = new Map();
  for (const [name, t] of readSafetensors(bytes, a.weights).tensors) {
    weights.set(name, { shape: t.shape, data: t.data as Float32Array });
  }
  const model = ViFiClip.fromWeights(rt, clipConfig(a.arch), weights, "frozen");
  const [train, held] = [await floats(a.train), await floats(a.held)];
  const C = a.classes.length;
  const base: PromptTuneOptions = {
    model,
    clips: { frames: train, labels: a.trainLabels, T: a.T },
    classes: a.classes,
    tokenizer: new ByteTokenizer(model.config.text.vocab),
    prompt: a.prompt,
    seed: a.seed,
    batch: a.trainLabels.length,
    weightsName: a.weights,
  };
  const start = await model.clip.weights();
  const untrained = await tunePrompts({ ...base, steps: 1, lr: 0 });
  const before = await clipProbabilities(model, held, a.T, untrained.tokens, C);
  const r = await tunePrompts({
    ...base,
    steps: a.steps,
    lr: a.lr,
    onStep: async (s) => {
      await fetch("/report", { method: "POST", body: JSON.stringify({ type: "step", ...s }) });
    },
  });
  const after = await clipProbabilities(model, held, a.T, r.tokens, C);
  const weightsUnchanged = equalBytes(start, await model.clip.weights());
  model.dispose();
  return {
    losses: r.losses,
    before: Array.from(before),
    after: Array.from(after),
    fileBytes: Array.from(r.bytes),
    msPerStep: r.msPerStep,
    weightsUnchanged,
    adapter: `${rt.gpu.info.vendor} ${rt.gpu.info.architecture} ${rt.gpu.info.description}`.trim(),
  };
}

(globalThis as { promptPage?: { run: typeof run } }).promptPage = { run };
