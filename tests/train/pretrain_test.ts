// Contrastive pretraining on synthetic caption pairs (lib/train/pretrain.ts): every step its own batch,
// the same batches for the same seed; the rate warms up and then follows the cosine; a tiny CLIP learns
// (zero-shot colour from one-word prompts); bad options are refused by name.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { ByteTokenizer } from "../../lib/text/tokenizer.ts";
import { captionPairs, novelTriples } from "../../lib/data/captions.ts";
import { COLOURS } from "../../lib/data/synthetic.ts";
import { classTokens } from "../../lib/models/load.ts";
import { Tape } from "../../lib/autograd/tape.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { lrAt } from "../../lib/train/schedule.ts";
import { batchSeed, pretrainClip, type PretrainOptions } from "../../lib/train/pretrain.ts";
import { assert, assertEquals, assertThrows } from "../data/assert.ts";

// the demo's byte vocabulary and context, at the tiny model's widths
const base = clipConfig("tiny");
const config = { ...base, text: { ...base.text, context: 48, vocab: 258 } };

/** enough steps, with every base pair fully captioned, for colour to be read from a word it never saw alone */
const LEARN: Partial<PretrainOptions> = {
  steps: 60,
  batch: 16,
  lr: 2e-3,
  warmupSteps: 6,
  data: { novel: novelTriples(1), fullShare: 1 },
};

function options(over: Partial<PretrainOptions> = {}): PretrainOptions {
  return {
    steps: 4,
    batch: 6,
    lr: 3e-3,
    warmupSteps: 1,
    weightDecay: 0.1,
    seed: 5,
    data: { novel: novelTriples(1) },
    ...over,
  };
}

async function run(over: Partial<PretrainOptions> = {}) {
  const rt = await getRuntime();
  const model = ViFiClip.fromWeights(rt, config, initClipWeights(config, 3), "both");
  const rates: number[] = [];
  try {
    const r = await pretrainClip(model, new ByteTokenizer(), {
      ...options(over),
      onStep: (_s, _l, lr) => rates.push(lr),
    });
    return { losses: r.losses, rates };
  } finally {
    model.dispose();
  }
}

Deno.test("batch seeds: one per step, the same for the same run seed, another for another", () => {
  const seeds = Array.from({ length: 50 }, (_, s) => batchSeed(7, s));
  assertEquals(new Set(seeds).size, 50, "distinct per step");
  assertEquals(seeds, Array.from({ length: 50 }, (_, s) => batchSeed(7, s)));
  assert(batchSeed(8, 0) !== batchSeed(7, 0) && batchSeed(8, 1) !== batchSeed(7, 1), "another run seed");
});

Deno.test("pretraining is deterministic from its seed and draws new pairs every step", async () => {
  const a = await run(), b = await run(), c = await run({ seed: 6 });
  assertEquals(a.losses, b.losses, "the same seed");
  assert(a.losses.every((l, i) => l !== c.losses[i]), `another seed: ${a.losses} vs ${c.losses}`);
  assert(a.losses.every(Number.isFinite), `losses ${a.losses}`);
});

Deno.test("the rate warms up linearly, peaks at lr and follows the cosine down to lr/100", async () => {
  const steps = 6, warmupSteps = 2, lr = 3e-3;
  const { rates } = await run({ steps, warmupSteps, lr, batch: 2 });
  const schedule = { lr, epochs: steps, warmupEpochs: warmupSteps, itersPerEpoch: 1 };
  assertEquals(rates, Array.from({ length: steps }, (_, s) => lrAt(s + 1, schedule)));
  assert(rates[0] > 0 && rates[0] < rates[1], `warmup ${rates}`);
  assertEquals(Math.max(...rates), rates[1]);
  assert(rates.at(-1)! >= lr / 100 && rates.at(-1)! < rates[2], `cosine ${rates}`);
});

/** Zero-shot colour accuracy on fresh pairs: each frame against the prompts "red", "green", … */
async function colourAccuracy(model: ViFiClip): Promise<number> {
  const pairs = captionPairs({
    seed: 999,
    count: 48,
    novel: novelTriples(1),
    size: config.vision.resolution,
  });
  const colours = [...COLOURS];
  const tokens = classTokens(new ByteTokenizer(), colours, "{name}", config.text.context);
  const frames = Tensor.from(model.clip.rt, pairs.frames, pairs.shape, "f32", "colour test frames");
  const tape = new Tape();
  try {
    const logits = await (await model.forward(tape, frames, tokens, colours.length)).logits.value.read();
    let right = 0;
    pairs.facts.forEach((f, i) => {
      const row = logits.subarray(i * colours.length, (i + 1) * colours.length);
      if (colours[row.indexOf(Math.max(...row))] === f.colour) right++;
    });
    return right / pairs.facts.length;
  } finally {
    tape.dispose();
    frames.dispose();
  }
}

Deno.test("a tiny CLIP learns the synthetic captions: zero-shot colour from a one-word prompt", async () => {
  const rt = await getRuntime();
  const model = ViFiClip.fromWeights(rt, config, initClipWeights(config, 3), "both");
  try {
    const before = await colourAccuracy(model);
    const r = await pretrainClip(model, new ByteTokenizer(), options(LEARN));
    const after = await colourAccuracy(model);
    console.log(
      `colour zero-shot ${(100 * before).toFixed(0)} % → ${(100 * after).toFixed(0)} % (chance 25 %) after ` +
        `${LEARN.steps} steps, loss ${r.losses[0].toFixed(2)} → ${r.losses.at(-1)!.toFixed(2)}, ${
          r.seconds.toFixed(0)
        } s`,
    );
    // measured here: 25 % → 50 % (the 48 test frames at fixed seeds; untrained it stays at 25 %)
    assert(after >= 0.45 && after >= before + 0.2, `colour accuracy ${before} → ${after}`);
  } finally {
    model.dispose();
  }
});

Deno.test("bad pretraining options are refused by name", async () => {
  const rt = await getRuntime();
  const model = ViFiClip.fromWeights(rt, config, initClipWeights(config, 3), "both");
  const tok = new ByteTokenizer();
  const refused = async (over: Partial<PretrainOptions>, includes: string) => {
    let err: unknown;
    try {
      await pretrainClip(model, tok, options(over));
    } catch (e) {
      err = e;
    }
    assertThrows(() => {
      if (err) throw err;
    }, includes);
  };
  try {
    await refused({ steps: 0 }, "pretrain.steps must be an integer ≥ 1, got 0");
    await refused({ batch: 1 }, "pretrain.batch must be an integer ≥ 2, got 1");
    await refused({ lr: 0 }, "pretrain.lr must be > 0");
    await refused({ warmupSteps: 4 }, "pretrain.warmupSteps must be an integer in [0, steps), got 4");
  } finally {
    model.dispose();
  }
});
