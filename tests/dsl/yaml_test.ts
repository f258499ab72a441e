import { assert, assertEquals, assertRejects, assertThrows, tempTree } from "./assert.ts";
import { applyOpts, literalEval, loadConfigTree } from "../../lib/dsl/yaml.ts";
import { loadExperiments } from "../../lib/dsl/load.ts";

const DATA = {
  "labels/l.csv": "id,name\n0,archery\n1,bowling\n",
  "lists/train.txt": "a.mp4 0\nb.mp4 1\n",
  "lists/val.txt": "c.mp4 0\nd.mp4 1\n",
  "videos/.keep": "",
};
const BASE_YAML = `DATA:
  ROOT: 'videos'
  TRAIN_FILE: 'lists/train.txt'
  VAL_FILE: 'lists/val.txt'
  NUM_FRAMES: 16
  NUM_CLASSES: 2
  LABEL_LIST: 'labels/l.csv'
MODEL:
  ARCH: ViT-B/16
TRAIN:
  LR: 1.e-03
  EPOCHS: 3
SAVE_FREQ: 10
`;

/** `configs/common/base.yaml` included by `configs/exp/child.yaml`, a config dir beside the data. */
async function tree(child: string, extra: Record<string, string> = {}): Promise<string> {
  return await tempTree({
    ...DATA,
    "configs/common/base.yaml": BASE_YAML,
    "configs/exp/child.yaml": child,
    ...extra,
  });
}

Deno.test("literalEval follows ast.literal_eval for config values", () => {
  assertEquals(literalEval("4.e-02"), 0.04);
  assertEquals(literalEval("8e-06"), 8e-6);
  assertEquals(literalEval("16"), 16);
  assertEquals(literalEval("-3"), -3);
  assertEquals(literalEval(".5"), 0.5);
  assertEquals(literalEval("True"), true);
  assertEquals(literalEval("False"), false);
  assertEquals(literalEval("None"), null);
  assertEquals(literalEval('"True"'), "True");
  assertEquals(literalEval("'text'"), "text");
  assertEquals(literalEval("text"), "text");
  assertEquals(literalEval("ViT-B/16"), "ViT-B/16");
  assertEquals(literalEval("true"), "true"); // a Python name, not a literal
  assertEquals(literalEval("[1, 2]"), [1, 2]);
});

Deno.test("yaml: BASE includes are relative to the including file; the file overrides its bases", async () => {
  const dir = await tree("BASE: ['../common/base.yaml']\nTRAIN:\n  EPOCHS: 5\n");
  const [r] = await loadExperiments("configs/exp/child.yaml", { cwd: dir, dryRun: true });
  assertEquals(r.train!.epochs, 5); // child
  assertEquals(r.train!.lr, 1e-3); // base
  assertEquals(r.data.frames, 16); // base
  assertEquals(r.train!.saveFreq, 10);
  assertEquals(r.train!.batch, 8); // upstream default
  assertEquals(r.name, "exp.child");
  assertEquals(r.source, `${dir}/configs/exp/child.yaml`);
  // DATA paths resolve against the start directory, not the config's folder
  assertEquals(r.train!.list, `${dir}/lists/train.txt`);
  assertEquals(r.evals[0].labels, `${dir}/labels/l.csv`);
  assertEquals(r.data.root, `${dir}/videos`);
});

Deno.test("yaml: recursive includes, and an include cycle is an error", async () => {
  const dir = await tree("BASE: ['mid.yaml']\n", {
    "configs/exp/mid.yaml": "BASE: ['../common/base.yaml']\nDATA:\n  NUM_FRAMES: 32\n",
    "configs/exp/a.yaml": "BASE: ['b.yaml']\n",
    "configs/exp/b.yaml": "BASE: ['a.yaml']\n",
  });
  const [r] = await loadExperiments(`${dir}/configs/exp/child.yaml`, { cwd: dir, dryRun: true });
  assertEquals([r.data.frames, r.train!.epochs], [32, 3]);
  await assertRejects(() => loadConfigTree(`${dir}/configs/exp/a.yaml`), "include cycle", "a.yaml");
});

Deno.test("yaml: precedence YAML < --opts < flags", async () => {
  const dir = await tree("BASE: ['../common/base.yaml']\nTRAIN:\n  BATCH_SIZE: 4\n  ACCUMULATION_STEPS: 2\n");
  const opts = [
    "TRAIN.BATCH_SIZE",
    "6",
    "TRAIN.ACCUMULATION_STEPS",
    "3",
    "TEST.NUM_CLIP",
    "4",
    "TRAIN.LR",
    "2e-3",
  ];
  const [a] = await loadExperiments("configs/exp/child.yaml", { cwd: dir, dryRun: true, opts });
  assertEquals([a.train!.batch, a.train!.accumulation, a.evals[0].clips, a.train!.lr], [6, 3, 4, 2e-3]);
  const [b] = await loadExperiments("configs/exp/child.yaml", {
    cwd: dir,
    dryRun: true,
    opts,
    overrides: { batchSize: 1, output: "out" },
  });
  assertEquals([b.train!.batch, b.train!.accumulation, b.output], [1, 3, `${dir}/out`]);
  // quoted and bare strings, booleans as the upstream docs write them
  const [c] = await loadExperiments("configs/exp/child.yaml", {
    cwd: dir,
    dryRun: true,
    opts: ["TRAINER.ViFi_CLIP.USE", '"text"', "TEST.MULTI_VIEW_INFERENCE", "True"],
  });
  assertEquals([c.model.variant, c.train!.finalViews], ["text", { clips: 4, crops: 3 }]);
});

Deno.test("yaml: unknown keys are errors naming the file and the key", async () => {
  const dir = await tree("BASE: ['../common/base.yaml']\nTRAIN:\n  LEARNING_RATE: 1\n");
  await assertRejects(
    () => loadExperiments("configs/exp/child.yaml", { cwd: dir, dryRun: true }),
    `${dir}/configs/exp/child.yaml`,
    "TRAIN.LEARNING_RATE",
    "unknown config key",
  );
  const ok = await tree("BASE: ['../common/base.yaml']\n", {
    "configs/common/base.yaml": BASE_YAML + "BOGUS: 1\n",
  });
  await assertRejects(
    () => loadExperiments("configs/exp/child.yaml", { cwd: ok, dryRun: true }),
    `${ok}/configs/common/base.yaml`,
    "BOGUS",
  );
  const cfg = await loadConfigTree(`${ok}/configs/exp/mid.yaml`).catch((e) => e);
  assert(cfg instanceof Error && cfg.message.includes("mid.yaml"), "a missing config names its path");
  assertThrows(() => applyOpts({ TRAIN: { LR: 1 } }, ["TRAIN.LRR", "1"]), "--opts", "TRAIN.LRR", "unknown");
  assertThrows(() => applyOpts({ TRAIN: { LR: 1 } }, ["TRAIN.LR"]), "--opts", "pairs");
  assertThrows(
    () => applyOpts({ TRAIN: { LR: 1 } }, ["TRAIN.LR", "fast"]),
    "--opts",
    "TRAIN.LR",
    "type mismatch",
  );
  // keys the upstream accepts but ViFi-CLIP never reads still load
  const unused = await tree(
    "BASE: ['../common/base.yaml']\nTRAIN:\n  LR_SCHEDULER: cosine\n  OPTIMIZER: adamw\n  USE_CHECKPOINT: True\n" +
      "MODEL:\n  DROP_PATH_RATE: 0.1\n  FIX_TEXT: False\nPRINT_FREQ: 20\n",
  );
  const [r] = await loadExperiments("configs/exp/child.yaml", { cwd: unused, dryRun: true });
  assertEquals(r.train!.epochs, 3);
});

Deno.test("yaml: NUM_CLASSES must equal the label file's row count", async () => {
  const dir = await tree("BASE: ['../common/base.yaml']\nDATA:\n  NUM_CLASSES: 3\n");
  await assertRejects(
    () => loadExperiments("configs/exp/child.yaml", { cwd: dir, dryRun: true }),
    "child.yaml",
    "DATA.NUM_CLASSES",
    "has 2 classes",
  );
});

Deno.test("yaml: validation errors name the YAML key too", async () => {
  const dir = await tree("BASE: ['../common/base.yaml']\nDATA:\n  TRAIN_FILE: 'lists/missing.txt'\n");
  await assertRejects(
    () => loadExperiments("configs/exp/child.yaml", { cwd: dir, dryRun: true }),
    "child.yaml",
    "train.list (DATA.TRAIN_FILE)",
    "missing.txt",
  );
  const neg = await tree("BASE: ['../common/base.yaml']\nTRAIN:\n  EPOCHS: 0\n");
  await assertRejects(
    () => loadExperiments("configs/exp/child.yaml", { cwd: neg, dryRun: true }),
    "train.epochs (TRAIN.EPOCHS)",
  );
});

Deno.test("yaml: relative DATA paths resolve against INIT_CWD when no cwd is given", async () => {
  const dir = await tree("BASE: ['../common/base.yaml']\n");
  const before = Deno.env.get("INIT_CWD");
  Deno.env.set("INIT_CWD", dir);
  try {
    const [r] = await loadExperiments(`${dir}/configs/exp/child.yaml`, { dryRun: true });
    assertEquals(r.train!.list, `${dir}/lists/train.txt`);
    assertEquals(r.output, `${dir}/runs/exp.child`);
  } finally {
    if (before === undefined) Deno.env.delete("INIT_CWD");
    else Deno.env.set("INIT_CWD", before);
  }
});

Deno.test("yaml: ZS_EVAL, ONLY_TEST, --resume and MULTI_VIEW_INFERENCE", async () => {
  const dir = await tree("BASE: ['../common/base.yaml']\nTEST:\n  MULTI_VIEW_INFERENCE: True\n", {
    "ck.pth": "",
  });
  const zs = await loadExperiments("configs/exp/child.yaml", {
    cwd: dir,
    dryRun: true,
    opts: ["TRAINER.ViFi_CLIP.ZS_EVAL", "True"],
    overrides: { onlyTest: true, resume: "" },
  });
  assertEquals([zs[0].model.template, zs[0].model.variant, zs[0].train], ["{name}", "frozen", undefined]);
  assertEquals(zs[0].evals[0].template, "{name}");
  // ZS_EVAL trains nothing, so it needs --only_test
  await assertRejects(
    () =>
      loadExperiments("configs/exp/child.yaml", { cwd: dir, opts: ["TRAINER.ViFi_CLIP.ZS_EVAL", "True"] }),
    "ZS_EVAL",
    "--only_test",
  );
  const test = await loadExperiments("configs/exp/child.yaml", {
    cwd: dir,
    dryRun: true,
    overrides: { onlyTest: true, resume: "ck.pth" },
    cacheDir: "/cache",
  });
  assertEquals(test[0].train, undefined);
  assertEquals([test[0].model.weights, test[0].model.clipWeights], [`${dir}/ck.pth`, "/cache/ViT-B-16.pt"]);
  // training: multi-view evaluation of the final weights, and --resume initialises
  const [tr] = await loadExperiments("configs/exp/child.yaml", {
    cwd: dir,
    dryRun: true,
    overrides: { resume: "ck.pth" },
    cacheDir: "/cache",
  });
  assertEquals(tr.train!.finalViews, { clips: 4, crops: 3 });
  assertEquals(tr.train!.resume, { path: `${dir}/ck.pth`, mode: "init" });
  assertEquals(tr.model.weights, "/cache/ViT-B-16.pt");
  assertEquals([tr.evals[0].clips, tr.evals[0].crops], [1, 1]);
});

Deno.test("yaml: prompt model and CTX_INIT", async () => {
  const prompt =
    "TRAINER:\n  ViFi_CLIP:\n    PROMPT_MODEL: True\n    N_CTX_VISION: 10\n    N_CTX_TEXT: 10\n" +
    "    PROMPT_DEPTH_VISION: 12\n    PROMPT_DEPTH_TEXT: 12\n";
  const dir = await tree(`BASE: ['../common/base.yaml']\n${prompt}`);
  const [r] = await loadExperiments("configs/exp/child.yaml", { cwd: dir, dryRun: true });
  assertEquals(r.model.variant, "prompt");
  assertEquals(r.model.prompt, { textCtx: 10, visionCtx: 10, textDepth: 12, visionDepth: 12 });
  await assertRejects(
    () =>
      loadExperiments("configs/exp/child.yaml", {
        cwd: dir,
        dryRun: true,
        opts: ["TRAINER.ViFi_CLIP.N_CTX_TEXT", "4"],
      }),
    "CTX_INIT",
  );
  const ft = await tree(
    "BASE: ['../common/base.yaml']\nTRAINER:\n  ViFi_CLIP:\n    CTX_INIT: 'a_video_of_a'\n",
  );
  const [f] = await loadExperiments("configs/exp/child.yaml", { cwd: ft, dryRun: true });
  assertEquals(f.model.template, "a video of a {name}.");
});

Deno.test("load: .exp.ts modules, flags on a sweep, and bad default exports", async () => {
  const lib = new URL("../../lib/dsl/define.ts", import.meta.url).href;
  const dir = await tempTree({
    ...DATA,
    "sweep.exp.ts": `import { sweep } from "${lib}";
export default sweep({
  name: "s",
  model: { arch: "tiny", tokenizer: "bytes", template: "{name}" },
  data: { root: "videos" },
  train: { list: "lists/train.txt", labels: "labels/l.csv" },
  evals: [{ name: "val", list: "lists/val.txt", labels: "labels/l.csv" }],
}, { seed: [1, 2] });
`,
    "bad.exp.ts": "export default 42;\n",
  });
  const rs = await loadExperiments("sweep.exp.ts", {
    cwd: dir,
    overrides: { output: "o", accumulationSteps: 4 },
  });
  assertEquals(rs.map((r) => [r.name, r.seed, r.output, r.train!.accumulation]), [
    ["s-seed1", 1, `${dir}/o/s-seed1`, 4],
    ["s-seed2", 2, `${dir}/o/s-seed2`, 4],
  ]);
  const only = await loadExperiments(`${dir}/sweep.exp.ts`, { cwd: dir, overrides: { onlyTest: true } });
  assertEquals(only.map((r) => r.train), [undefined, undefined]);
  await assertRejects(() => loadExperiments("bad.exp.ts", { cwd: dir }), "bad.exp.ts", "default export");
  await assertRejects(() => loadExperiments("sweep.exp.ts", { cwd: dir, opts: ["A", "1"] }), "--opts");
});

Deno.test("yaml: AUTO_RESUME picks the newest checkpoint in the output folder", async () => {
  const dir = await tree("BASE: ['../common/base.yaml']\nTRAIN:\n  AUTO_RESUME: True\nOUTPUT: 'out'\n", {
    "out/ckpt_epoch_0.pth": "",
    "out/ckpt_epoch_1.pth": "",
    "out/log_rank0.txt": "",
  });
  await Deno.utime(`${dir}/out/ckpt_epoch_0.pth`, 1000, 1000);
  await Deno.utime(`${dir}/out/ckpt_epoch_1.pth`, 2000, 2000);
  await Deno.utime(`${dir}/out/log_rank0.txt`, 3000, 3000);
  const [r] = await loadExperiments("configs/exp/child.yaml", { cwd: dir, dryRun: true });
  assertEquals(r.train!.resume, { path: `${dir}/out/ckpt_epoch_1.pth`, mode: "init" });
  assertEquals(r.output, `${dir}/out`);
  // nothing there yet: a fresh start, as upstream
  const empty = await tree("BASE: ['../common/base.yaml']\nTRAIN:\n  AUTO_RESUME: True\nOUTPUT: 'out'\n");
  const [s] = await loadExperiments("configs/exp/child.yaml", { cwd: empty, dryRun: true });
  assertEquals(s.train!.resume, undefined);
});
