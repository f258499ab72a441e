// The pretrain protocol (lib/dsl/resolve-pretrain.ts): a pretrain section resolves with its defaults and no
// videos; it comes only with protocol kind "pretrain" and alone (no train, data or evaluations); its numbers
// are checked by name; captions too long for the model's text context are refused before anything loads;
// sweeps set a pretrain section's own lr, batch and frames.

import { assert, assertEquals, assertRejects } from "./assert.ts";
import { sweep } from "../../lib/dsl/define.ts";
import { describeResolved, ExperimentError, resolveExperiment } from "../../lib/dsl/resolve.ts";
import type { Experiment } from "../../lib/dsl/types.ts";
import { syntheticWords } from "../../lib/data/caption-templates.ts";
import { classGrid, COLOURS, MOTIONS, SHAPES } from "../../lib/data/synthetic.ts";

const SOURCE = "/exp/p.exp.ts";
const CWD = "/tmp/vifi-pretrain-dsl";

function exp(over: Record<string, unknown> = {}): Experiment {
  return {
    name: "p",
    protocol: { kind: "pretrain", dataset: "synthetic" },
    model: { arch: "synthetic", variant: "both", tokenizer: "bytes" },
    pretrain: { steps: 10, batch: 4, lr: 1e-3 },
    evals: [],
    seed: 7,
    ...over,
  } as Experiment;
}

function pretrain(over: Record<string, unknown>): Experiment {
  return exp({ pretrain: { steps: 10, batch: 4, lr: 1e-3, ...over } });
}

Deno.test("pretrain protocol: defaults, no videos, the experiment's seed holds out its split", async () => {
  const r = await resolveExperiment(exp(), { source: SOURCE, cwd: CWD });
  assertEquals(r.pretrain, {
    steps: 10,
    batch: 4,
    lr: 1e-3,
    warmupSteps: 0,
    weightDecay: 0.05,
    frames: 1,
    novelSeed: 7,
    novelClips: "partial",
    fullShare: 0.4,
    positives: "pair",
  });
  assertEquals([r.train, r.evals, r.data.frames, r.data.root], [undefined, [], 1, CWD]);
  assertEquals(r.protocol, { kind: "pretrain", dataset: "synthetic" });
  assertEquals(r.output, `${CWD}/runs/p`);
  assertEquals(describeResolved(r).pretrain, r.pretrain);
  const given = await resolveExperiment(
    pretrain({
      warmupSteps: 2,
      weightDecay: 0,
      frames: 3,
      novelSeed: 1,
      novelClips: "never",
      fullShare: 1,
      positives: "describing",
    }),
    { source: SOURCE, cwd: CWD },
  );
  assertEquals(
    [given.pretrain!.warmupSteps, given.pretrain!.weightDecay, given.data.frames, given.pretrain!.novelSeed],
    [2, 0, 3, 1],
  );
  assertEquals(
    [given.pretrain!.novelClips, given.pretrain!.fullShare, given.pretrain!.positives],
    ["never", 1, "describing"],
  );
});

/** A folder holding the synthetic world's word list, as `deno task synthetic` writes it. */
async function wordsDir(words = syntheticWords(classGrid(COLOURS, SHAPES, MOTIONS).map((c) => c.name))) {
  const dir = await Deno.makeTempDir({ prefix: "vifi-pretrain-words-" });
  await Deno.writeTextFile(`${dir}/words.txt`, words.join("\n") + "\n");
  return dir;
}

Deno.test("pretrain protocol: the example experiment resolves", async () => {
  const dir = await wordsDir();
  Deno.env.set("VIFI_SYNTHETIC_DIR", dir);
  const example = (await import(`../../experiments/synthetic-pretrain.exp.ts?dir=${dir}`)).default;
  const r = await resolveExperiment(example, { source: SOURCE, cwd: CWD });
  await Deno.remove(dir, { recursive: true });
  assertEquals(r.model.vocab, `${dir}/words.txt`);
  assertEquals([r.name, r.pretrain!.steps, r.pretrain!.batch, r.pretrain!.novelSeed], [
    "synthetic-pretrain",
    2000,
    64,
    1,
  ]);
  assertEquals(r.output, `${CWD}/runs/synthetic/pretrain`);
});

const REFUSED: [string, Experiment, string][] = [
  [
    "a pretrain protocol without a pretrain section",
    exp({ pretrain: undefined }),
    'pretrain: missing: protocol.kind "pretrain" needs a pretrain section {steps, batch, lr}',
  ],
  [
    "a pretrain section with another protocol",
    exp({ protocol: { kind: "base-to-novel" } }),
    'pretrain: a pretrain section needs protocol.kind "pretrain", got "base-to-novel"',
  ],
  [
    "a pretrain section without a protocol",
    exp({ protocol: undefined }),
    'pretrain: a pretrain section needs protocol.kind "pretrain", got "custom"',
  ],
  [
    "a train section with pretrain",
    exp({ train: { list: "a.txt", labels: "l.csv" } }),
    "train: a pretrain run takes no train section (fine-tune its last.safetensors in another experiment)",
  ],
  [
    "a data section with pretrain",
    exp({ data: { root: "videos" } }),
    "data: a pretrain run reads no videos (it draws its own pairs; frames go in pretrain.frames)",
  ],
  [
    "evaluations with pretrain",
    exp({ evals: [{ name: "val", list: "v.txt", labels: "l.csv" }] }),
    "evals: a pretrain run evaluates nothing (evaluate its last.safetensors in another experiment)",
  ],
  [
    "a frozen model",
    exp({ model: { arch: "synthetic", variant: "frozen", tokenizer: "bytes" } }),
    'model.variant: a pretrain run trains: "frozen" trains nothing',
  ],
  ["zero steps", pretrain({ steps: 0 }), "pretrain.steps: must be a positive integer, got 0"],
  ["fractional steps", pretrain({ steps: 2.5 }), "pretrain.steps: must be a positive integer, got 2.5"],
  [
    "a batch of one",
    pretrain({ batch: 1 }),
    "pretrain.batch: must be at least 2 (the other pairs of a batch are the negatives)",
  ],
  ["no lr", pretrain({ lr: undefined }), "pretrain.lr: must be a number in [0, Infinity], got undefined"],
  ["a zero lr", pretrain({ lr: 0 }), "pretrain.lr: must be a positive number, got 0"],
  ["a negative lr", pretrain({ lr: -1 }), "pretrain.lr: must be a number in [0, Infinity], got -1"],
  [
    "warmup as long as the run",
    pretrain({ warmupSteps: 10 }),
    "pretrain.warmupSteps: must be less than pretrain.steps (10), got 10",
  ],
  [
    "negative warmup",
    pretrain({ warmupSteps: -1 }),
    "pretrain.warmupSteps: must be a non-negative integer, got -1",
  ],
  [
    "negative weight decay",
    pretrain({ weightDecay: -0.1 }),
    "pretrain.weightDecay: must be a number in [0, Infinity], got -0.1",
  ],
  ["five frames", pretrain({ frames: 5 }), "pretrain.frames: must be 1 to 4, got 5"],
  ["zero frames", pretrain({ frames: 0 }), "pretrain.frames: must be a positive integer, got 0"],
  [
    "a negative novel seed",
    pretrain({ novelSeed: -1 }),
    "pretrain.novelSeed: must be a non-negative integer, got -1",
  ],
  [
    "an unknown novelClips",
    pretrain({ novelClips: "sometimes" }),
    'pretrain.novelClips: must be one of "partial", "never", got "sometimes"',
  ],
  ["a share over 1", pretrain({ fullShare: 1.5 }), "pretrain.fullShare: must be a number in [0, 1], got 1.5"],
  [
    "an unknown kind of positives",
    pretrain({ positives: "all" }),
    'pretrain.positives: must be one of "pair", "describing", got "all"',
  ],
  [
    "an unknown pretrain key",
    pretrain({ epochs: 3 }),
    "pretrain.epochs: unknown key; pretrain takes steps, batch, lr, warmupSteps, weightDecay, frames, " +
    "novelSeed, novelClips, fullShare, positives",
  ],
  [
    "a text context too short for the captions",
    exp({ model: { arch: "tiny", variant: "both", tokenizer: "bytes" } }),
    'model.arch: "tiny" holds 16 text tokens, too few for the pretraining caption ' +
    '"a photo of a yellow triangle moving right." (44 tokens with SOT/EOT)',
  ],
];

Deno.test("pretrain protocol refuses a word list without a caption's word, naming model.vocab", async () => {
  const all = syntheticWords(classGrid(COLOURS, SHAPES, MOTIONS).map((c) => c.name));
  const dir = await wordsDir(all.filter((w) => w !== "thing"));
  try {
    const e = exp({
      model: { arch: "synthetic-words", variant: "both", tokenizer: "words", vocab: `${dir}/words.txt` },
    });
    const err = await assertRejects(() => resolveExperiment(e, { source: SOURCE, cwd: CWD }));
    assert(err instanceof ExperimentError, String(err));
    assert(
      err.message.startsWith(`${SOURCE}: experiment "p": model.vocab: "thing" (in "a `),
      err.message,
    );
    assert(err.message.includes(`is not in the word list ${dir}/words.txt`), err.message);
    assertEquals(err.message.split("\n").length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const [what, e, message] of REFUSED) {
  Deno.test(`pretrain protocol refuses ${what}`, async () => {
    const err = await assertRejects(() => resolveExperiment(e, { source: SOURCE, cwd: CWD }));
    assert(err instanceof ExperimentError, String(err));
    assertEquals(err.message, `${SOURCE}: experiment "p": ${message}`);
    assertEquals(err.message.split("\n").length, 1);
  });
}

Deno.test("pretrain protocol: a sweep sets the pretrain section's lr, batch and frames", () => {
  const runs = sweep(exp(), { lr: [1e-3, 2e-3], batch: [8], frames: [2] });
  assertEquals(runs.map((r) => [r.name, r.pretrain!.lr, r.pretrain!.batch, r.pretrain!.frames]), [
    ["p-lr0.001-batch8-frames2", 1e-3, 8, 2],
    ["p-lr0.002-batch8-frames2", 2e-3, 8, 2],
  ]);
  assertEquals(runs[0].data, undefined);
});
