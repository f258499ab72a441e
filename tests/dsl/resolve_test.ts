import { assert, assertEquals, assertRejects, tempTree } from "./assert.ts";
import { describeResolved, resolveExperiment } from "../../lib/dsl/resolve.ts";
import type { Experiment } from "../../lib/dsl/types.ts";

// 3 classes; class 2 has a single training video; 8 videos, one update of the default batch
const FILES = {
  "labels.csv": "id,name\n0,archery\n1,bowling\n2,cooking\n",
  "labels2.csv": "id,name\n0,archery\n1,bowling\n",
  "train.txt": "a.mp4 0\nb.mp4 0\nc.mp4 1\nd.mp4 1\ne.mp4 2\nh.mp4 0\ni.mp4 1\nj.mp4 0\n",
  "val.txt": "f.mp4 0\ng.mp4 2\n",
  "videos/.keep": "",
};
const SOURCE = "/exp/my.exp.ts";

function exp(over: Partial<Experiment> = {}): Experiment {
  return {
    name: "t",
    model: { arch: "ViT-B/16" },
    data: { root: "videos" },
    train: { list: "train.txt", labels: "labels.csv" },
    evals: [{ name: "val", list: "val.txt", labels: "labels.csv" }],
    ...over,
  };
}

Deno.test("resolve: upstream defaults, absolute paths, architecture resolution", async () => {
  const dir = await tempTree(FILES);
  const r = await resolveExperiment(exp(), { source: SOURCE, cwd: dir });
  const t = r.train!;
  assertEquals(
    [t.epochs, t.lr, t.batch, t.accumulation, t.warmupEpochs, t.weightDecay, t.labelSmoothing],
    [30, 8e-6, 8, 1, 5, 0.001, 0.1],
  );
  assertEquals([t.mixup, t.cutmix, t.switchProb, t.colorJitter, t.grayScale, t.saveFreq], [
    0.8,
    1,
    0.5,
    0.8,
    0.2,
    1,
  ]);
  assertEquals([r.seed, r.data.frames, r.data.onError], [1024, 8, "fail"]);
  assertEquals(r.model.template, "a photo of a {name}.");
  assertEquals([r.model.variant, r.model.precision, r.model.tokenizer, r.model.inputSize], [
    "both",
    "auto",
    "clip",
    224,
  ]);
  assertEquals(r.data.workers, Math.max(1, navigator.hardwareConcurrency - 1));
  assertEquals([r.evals[0].clips, r.evals[0].crops, r.evals[0].template], [1, 1, "a photo of a {name}."]);
  assertEquals(r.output, `${dir}/runs/t`);
  assertEquals([r.data.root, t.root, r.evals[0].root], [`${dir}/videos`, `${dir}/videos`, `${dir}/videos`]);
  assertEquals([t.list, t.labels], [`${dir}/train.txt`, `${dir}/labels.csv`]);
  assertEquals(r.protocol, { kind: "custom" });
  assertEquals([r.source, r.description, r.warnings], [SOURCE, "", undefined]);

  const tiny = await resolveExperiment(
    exp({ model: { arch: "tiny", tokenizer: "bytes", template: "{name}" } }),
    {
      source: SOURCE,
      cwd: dir,
    },
  );
  assertEquals(tiny.model.inputSize, 32);
  // absolute paths are kept; given values win over defaults
  const given = await resolveExperiment(
    exp({
      output: "/somewhere/out",
      seed: 7,
      train: { list: `${dir}/train.txt`, labels: "labels.csv", lr: 0.5, batch: 2 },
      evals: [{ name: "val", list: "val.txt", labels: "labels.csv", clips: 4, crops: 3, template: "{name}" }],
    }),
    { source: SOURCE, cwd: dir },
  );
  assertEquals([given.output, given.seed, given.train!.lr, given.train!.batch], [
    "/somewhere/out",
    7,
    0.5,
    2,
  ]);
  assertEquals([given.evals[0].clips, given.evals[0].crops, given.evals[0].template], [4, 3, "{name}"]);
});

Deno.test("resolve: describeResolved shows the settings a dry run must show", async () => {
  const dir = await tempTree(FILES);
  const r = await resolveExperiment(
    exp({
      model: {
        arch: "ViT-B/16",
        variant: "prompt",
        prompt: { textCtx: 16, visionCtx: 16, textDepth: 9, visionDepth: 9 },
      },
    }),
    { source: SOURCE, cwd: dir },
  );
  // deno-lint-ignore no-explicit-any
  const d = describeResolved(r) as Record<string, any>;
  assertEquals(d.frames, 8);
  assertEquals(d.model.variant, "prompt");
  assertEquals(d.model.prompt, { textCtx: 16, visionCtx: 16, textDepth: 9, visionDepth: 9 });
  for (
    const k of [
      "epochs",
      "lr",
      "batch",
      "accumulation",
      "warmupEpochs",
      "weightDecay",
      "labelSmoothing",
      "mixup",
      "cutmix",
      "labels",
      "list",
    ]
  ) assert(k in d.train, `train.${k} missing from the dry-run description`);
  assertEquals(d.evals[0].views, "1x1");
  assertEquals(d.evals[0].labels, `${dir}/labels.csv`);
  // it is JSON: the CLI prints it as is
  assertEquals(JSON.parse(JSON.stringify(d)), d);
});

// every error names the source file, the experiment and the field
const cases: [string, Partial<Experiment> | ((dir: string) => Partial<Experiment>), string[]][] = [
  ["missing list", { train: { list: "nope.txt", labels: "labels.csv" } }, [
    "train.list",
    "nope.txt",
    "does not exist",
  ]],
  ["missing labels", { train: { list: "train.txt", labels: "nope.csv" } }, ["train.labels", "nope.csv"]],
  [
    "label out of range",
    { evals: [{ name: "val", list: "val.txt", labels: "labels2.csv" }] },
    ["evals[0].list", "label 2", "2 classes"],
  ],
  ["K larger than a class has", { protocol: { kind: "few-shot", shots: 2 } }, [
    "protocol.shots",
    "class 2 (cooking)",
  ]],
  ["zero epochs", { train: { list: "train.txt", labels: "labels.csv", epochs: 0 } }, [
    "train.epochs",
    "positive",
  ]],
  ["negative batch", { train: { list: "train.txt", labels: "labels.csv", batch: -1 } }, ["train.batch"]],
  ["zero lr", { train: { list: "train.txt", labels: "labels.csv", lr: 0 } }, ["train.lr", "positive"]],
  ["an unknown train crop", {
    train: { list: "train.txt", labels: "labels.csv", crop: "random" as "centre" },
  }, [
    "train.crop",
    '"multi-scale", "square", "centre"',
    '"random"',
  ]],
  ["an unknown tokenizer", { model: { arch: "tiny", tokenizer: "chars" as "words" } }, [
    "model.tokenizer",
    '"words"',
    '"chars"',
  ]],
  ["unknown arch", { model: { arch: "ViT-H/99" } }, ["model.arch", "ViT-H/99", "ViT-B/16"]],
  [
    "prompt config without the prompt variant",
    { model: { arch: "ViT-B/16", prompt: { textCtx: 4, visionCtx: 4, textDepth: 1, visionDepth: 1 } } },
    ["model.prompt", '"prompt"'],
  ],
  ["prompt variant without a prompt config", { model: { arch: "ViT-B/16", variant: "prompt" } }, [
    "model.prompt",
  ]],
  [
    "prompt deeper than the model",
    {
      model: {
        arch: "tiny",
        variant: "prompt",
        prompt: { textCtx: 2, visionCtx: 2, textDepth: 3, visionDepth: 1 },
      },
    },
    ["model.prompt", "textDepth"],
  ],
  ["frozen with a train section", { model: { arch: "ViT-B/16", variant: "frozen" } }, [
    "model.variant",
    "frozen",
  ]],
  ["template without {name}", { model: { arch: "ViT-B/16", template: "a video" } }, ["model.template"]],
  [
    "duplicate evaluation names",
    {
      evals: [
        { name: "val", list: "val.txt", labels: "labels.csv" },
        { name: "val", list: "val.txt", labels: "labels.csv" },
      ],
    },
    ["evals[1].name", "two evaluations"],
  ],
  ["nothing to run", { train: undefined, evals: [] }, ["evals", "nothing to run"]],
  ["missing videos root", { data: { root: "no-videos" } }, ["data.root", "no-videos", "does not exist"]],
  ["missing weights", { model: { arch: "ViT-B/16", weights: "w.pt" } }, ["model.weights", "w.pt"]],
  ["bad name", { name: "has space" }, ["name"]],
  ["no arch and no weights", { model: {} }, ["model.arch"]],
];

for (const [what, over, includes] of cases) {
  Deno.test(`resolve rejects: ${what}`, async () => {
    const dir = await tempTree(FILES);
    const e = exp(typeof over === "function" ? over(dir) : over);
    await assertRejects(() => resolveExperiment(e, { source: SOURCE, cwd: dir }), SOURCE, ...includes);
  });
}

Deno.test("resolve: a dry run reports a missing videos root and weight file instead of failing", async () => {
  const dir = await tempTree(FILES);
  const e = exp({ data: { root: "no-videos" }, model: { arch: "ViT-B/16", weights: "w.pt" } });
  const r = await resolveExperiment(e, { source: SOURCE, cwd: dir, dryRun: true });
  assertEquals(r.warnings?.length, 2);
  assert(r.warnings!.some((w) => w.startsWith("data.root:") && w.includes(`${dir}/no-videos`)));
  assert(r.warnings!.some((w) => w.startsWith("model.weights:")));
  assertEquals(describeResolved(r).warnings, r.warnings);
  // a missing list is still an error in a dry run: it reads the lists
  await assertRejects(
    () =>
      resolveExperiment(exp({ train: { list: "nope.txt", labels: "labels.csv" } }), {
        source: SOURCE,
        cwd: dir,
        dryRun: true,
      }),
    "train.list",
  );
});

Deno.test("resolve: K-shot equal to the smallest class passes; expected class count is checked", async () => {
  const dir = await tempTree(FILES);
  const r = await resolveExperiment(exp({ protocol: { kind: "few-shot", shots: 1 } }), {
    source: SOURCE,
    cwd: dir,
  });
  assertEquals(r.protocol.shots, 1);
  await assertRejects(
    () =>
      resolveExperiment(exp(), {
        source: "c.yaml",
        cwd: dir,
        expectedClasses: { value: 4, field: "DATA.NUM_CLASSES" },
      }),
    "c.yaml",
    "DATA.NUM_CLASSES",
    "is 4",
    "has 3 classes",
  );
});

Deno.test("resolve: VIFI_RUNS is the folder outputs go under when an experiment names none", async () => {
  const { withEnv } = await import("../with_env.ts");
  const dir = await tempTree(FILES);
  const opts = { source: SOURCE, cwd: dir };
  await withEnv("VIFI_RUNS", "/shared/lab-runs", async () => {
    assertEquals((await resolveExperiment(exp(), opts)).output, "/shared/lab-runs/t");
    // an experiment's own output still wins
    assertEquals((await resolveExperiment(exp({ output: "/elsewhere/o" }), opts)).output, "/elsewhere/o");
  });
  // relative: from the folder the experiment is resolved in, as runs/ is
  await withEnv("VIFI_RUNS", "shared", async () => {
    assertEquals((await resolveExperiment(exp(), opts)).output, `${dir}/shared/t`);
  });
  const { defaultResultsPath } = await import("../../lib/results/store.ts");
  const results = Deno.env.get("VIFI_RESULTS");
  Deno.env.delete("VIFI_RESULTS");
  try {
    await withEnv("VIFI_RUNS", "/shared/lab-runs", () => {
      assertEquals(defaultResultsPath(), "/shared/lab-runs/results.db");
      return Promise.resolve();
    });
    await withEnv("VIFI_RESULTS", "postgres://db.lab/vifi", () => {
      assertEquals(defaultResultsPath(), "postgres://db.lab/vifi");
      return Promise.resolve();
    });
  } finally {
    if (results !== undefined) Deno.env.set("VIFI_RESULTS", results);
  }
});
