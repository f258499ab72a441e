// Prompt tuning in headless Chromium (SwiftShader's WebGPU, f32), as the page runs it: the tiny model's
// frozen weights and synthetic clips come from the test's 127.0.0.1 server, lib/browser/prompt-tune.ts
// trains the prompts in the page with every step's loss reported live, the loss falls, every held-out clip's
// probability of its class rises, CLIP's weights stay bit-identical, and the prompts file the page makes
// loads in Deno's predict (frozen weights + --prompts) and gives the page's top-1 for every held-out clip.

import { browserMissing, offOrigin, openPage } from "../../lib/cli/browser-page.ts";
import { type WritableTensor, writeSafetensors } from "../../lib/io/safetensors.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { frozenModel, promptsFor } from "../../lib/predict/predict.ts";
import { promptOverlay, readPromptFile } from "../../lib/browser/prompt-file.ts";
import { clipProbabilities } from "../../lib/browser/prompt-tune.ts";
import { CLASSES, syntheticClips } from "./prompt_clips.ts";
import type { PromptPageArgs, PromptPageResult } from "./prompt_page.ts";

const ENTRY = new URL("./prompt_page.ts", import.meta.url);
const tiny = clipConfig("tiny");
const seed = 11, T = 2, STEPS = 80;

const skip = await browserMissing();
if (skip) console.log(`browser prompt-tuning test skipped: ${skip}`);

function expect(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

const argmax = (a: ArrayLike<number>, from: number, n: number) => {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[from + i] > a[from + best]) best = i;
  return best;
};

Deno.test({
  name:
    "prompt tuning in Chromium: loss falls, held-out clips move, the page's file predicts the same in Deno",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const weights = initClipWeights(tiny, seed);
    const tensors = new Map<string, WritableTensor>();
    for (const [name, t] of weights) tensors.set(name, { dtype: "F32", shape: t.shape, data: t.data });
    const dir = await Deno.makeTempDir({ prefix: "vifi-prompt-page-" });
    const weightsFile = `${dir}/tiny.safetensors`;
    await Deno.writeFile(weightsFile, writeSafetensors(tensors));
    const train = syntheticClips(CLASSES, 3, T, tiny.vision.resolution, seed);
    const held = syntheticClips(CLASSES, 1, T, tiny.vision.resolution, seed + 1000);
    const bin = (f: Float32Array) => ({ body: new Uint8Array(f.buffer) });
    const steps: { step: number; loss: number }[] = [];
    const p = await openPage({
      entries: [ENTRY],
      files: {
        "/tiny.safetensors": { body: await Deno.readFile(weightsFile) },
        "/train.bin": bin(train.frames),
        "/held.bin": bin(held.frames),
      },
      onMessage: (m) => steps.push(m as { step: number; loss: number }),
    });
    try {
      const args: PromptPageArgs = {
        weights: "/tiny.safetensors",
        arch: "tiny",
        train: "/train.bin",
        held: "/held.bin",
        trainLabels: train.labels,
        classes: CLASSES.map((c) => c.name),
        T,
        prompt: { textCtx: 4, visionCtx: 4, textDepth: 2, visionDepth: 2 },
        steps: STEPS,
        lr: 1e-2,
        seed,
      };
      const t0 = performance.now();
      const r: PromptPageResult = await p.page!.evaluate(
        // deno-lint-ignore no-explicit-any
        (a) => (globalThis as any).promptPage.run(a),
        args,
      );
      const C = CLASSES.length;
      const pTrue = (probs: number[]) => held.labels.map((l, i) => probs[i * C + l]);
      const [p0, p1] = [pTrue(r.before), pTrue(r.after)];
      console.log(
        `  ${p.browser}, ${r.adapter}: loss ${r.losses[0].toFixed(4)} → ${r.losses.at(-1)!.toFixed(4)} in ` +
          `${r.losses.length} steps, ${r.msPerStep.toFixed(1)} ms/step (page run ${
            ((performance.now() - t0) / 1000).toFixed(1)
          } s); held-out P(true) ${p0.map((x) => x.toFixed(3))} → ${p1.map((x) => x.toFixed(3))}`,
      );
      expect(r.losses.length === STEPS, `${r.losses.length} steps`);
      expect(
        steps.length === STEPS && steps.every((s, i) => s.step === i + 1 && s.loss === r.losses[i]),
        `the live reports (${steps.length}) are not the steps' losses`,
      );
      expect(r.losses.at(-1)! < 0.5 * r.losses[0], `loss ${r.losses[0]} → ${r.losses.at(-1)}`);
      p1.forEach((x, i) => expect(x > p0[i], `held-out ${CLASSES[i].name}: P(true) ${p0[i]} → ${x}`));
      expect(r.weightsUnchanged, "CLIP's weights changed in the page");
      expect(offOrigin(p.requests, new URL(p.url).origin).length === 0, `requests left 127.0.0.1`);

      // the downloaded file in Deno's predict: frozen weights from the same file, the page's prompts
      const file = `${dir}/page.prompts.safetensors`;
      await Deno.writeFile(file, new Uint8Array(r.fileBytes));
      const learned = readPromptFile(await Deno.readFile(file), file);
      const loaded = await frozenModel({
        weights: weightsFile,
        headWidth: 16,
        prompts: promptOverlay(learned, file),
      });
      try {
        const { tokens } = await promptsFor(loaded, learned.classes, { template: learned.template });
        const deno = await clipProbabilities(loaded.model, held.frames, T, tokens, C);
        const diff = Math.max(...r.after.map((x, i) => Math.abs(x - deno[i])));
        console.log(`  Deno (lavapipe) with the page's file: max |P_deno − P_page| ${diff.toExponential(2)}`);
        for (let i = 0; i < held.labels.length; i++) {
          expect(argmax(deno, i * C, C) === argmax(r.after, i * C, C), `held-out clip ${i}: top-1 differs`);
        }
        expect(diff < 1e-4, `Deno's probabilities differ from the page's by ${diff}`);
      } finally {
        loaded.model.dispose();
      }
    } finally {
      await p.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
