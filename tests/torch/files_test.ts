// Files written by real PyTorch (tests/torch/vifi_torch.py `files`): torch.save state dicts in fp32 and in
// fp16 as OpenAI's convert_weights leaves them, a torch.jit.trace + torch.jit.save archive, and a ViFi-CLIP
// training checkpoint as its main.py saves one (`module.` names, AdamW state, scheduler, epoch, a yacs
// config). vifi must read every tensor bit for bit as torch wrote it.

import { loadWeights } from "../../lib/models/weights/load.ts";
import { readTorch, stateDict } from "../../lib/io/torch.ts";
import { toPlain } from "../../lib/io/pickle.ts";
import type { ClipConfig } from "../../lib/models/config.ts";
import { assertSameTensor, readRaw, runTorch, skipWithoutTorch } from "./torch_env.ts";

const ignore = skipWithoutTorch("torch files tests");

/** Small enough for seconds, with every kind of CLIP tensor; heads of width 16. */
const config: ClipConfig = {
  name: "torch-files",
  embedDim: 16,
  vision: { width: 32, layers: 1, heads: 2, patch: 8, resolution: 32 },
  text: { width: 32, layers: 1, heads: 2, context: 16, vocab: 64 },
};

let dir: string | undefined;

/** One generator run shared by the tests of this file. */
async function torchFiles(): Promise<string> {
  if (!dir) {
    dir = await Deno.makeTempDir({ prefix: "vifi-torch-files-" });
    Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
    await runTorch("files", dir);
  }
  return dir;
}

globalThis.addEventListener("unload", () => {
  if (dir) Deno.removeSync(dir, { recursive: true });
});

Deno.test({ name: "torch.save fp32 state dict: every tensor as torch wrote it", ignore }, async () => {
  const d = await torchFiles();
  const want = readRaw(d, "expected_fp32");
  const got = await loadWeights(`${d}/clip_fp32.pt`, { headWidth: 16 });
  if (got.format !== "torch-zip" || got.naming !== "openai") throw new Error(`${got.format} ${got.naming}`);
  if (JSON.stringify(got.config.vision) !== JSON.stringify(config.vision)) {
    throw new Error(`inferred vision ${JSON.stringify(got.config.vision)}`);
  }
  if (got.weights.size !== want.size) {
    throw new Error(`${got.weights.size} tensors, torch saved ${want.size}`);
  }
  for (const [name, t] of want) assertSameTensor(got.weights.get(name), t, `clip_fp32.pt ${name}`);
});

Deno.test({ name: "torch.save after OpenAI's convert_weights (fp16): widened exactly", ignore }, async () => {
  const d = await torchFiles();
  const want = readRaw(d, "expected_fp16");
  const dtypes = JSON.parse(Deno.readTextFileSync(`${d}/fp16_dtypes.json`)) as Record<string, string>;
  const halves = Object.values(dtypes).filter((t) => t === "float16").length;
  const got = await loadWeights(`${d}/clip_fp16.pt`, { headWidth: 16 });
  if (got.dtypes.F16 !== halves) {
    throw new Error(`dtypes ${JSON.stringify(got.dtypes)}; torch stored ${halves} fp16 tensors`);
  }
  for (const [name, t] of want) assertSameTensor(got.weights.get(name), t, `clip_fp16.pt ${name}`);
});

Deno.test(
  { name: "torch.jit.trace + torch.jit.save archive: the traced module's parameters", ignore },
  async () => {
    const d = await torchFiles();
    const want = readRaw(d, "expected_fp32");
    const got = await loadWeights(`${d}/clip_jit.pt`, { headWidth: 16 });
    if (got.format !== "torchscript") throw new Error(`format ${got.format}`);
    for (const [name, t] of want) assertSameTensor(got.weights.get(name), t, `clip_jit.pt ${name}`);
  },
);

Deno.test({ name: "ViFi-CLIP checkpoint (module., AdamW, scheduler, yacs config)", ignore }, async () => {
  const d = await torchFiles();
  const want = readRaw(d, "expected_vifi");
  const got = await loadWeights(`${d}/ckpt_epoch_3.pth`, { clipWeights: `${d}/clip_fp32.pt`, headWidth: 16 });
  if (got.naming !== "vifi") throw new Error(`naming ${got.naming}`);
  const toModel = (k: string) =>
    k.replace(/^module\./, "").replace(/^image_encoder\./, "visual.").replace(/^text_encoder\./, "");
  let n = 0;
  for (const [name, t] of want) {
    if (name.includes("prompt_learner")) continue; // the label set's embeddings: dropped, as upstream does
    assertSameTensor(got.weights.get(toModel(name)), t, `ckpt_epoch_3.pth ${name}`);
    n++;
  }
  // Token embedding from the CLIP file; everything else from the checkpoint.
  if (n + 1 !== got.weights.size) throw new Error(`${got.weights.size} weights loaded, ${n} + 1 expected`);
  const clip = readRaw(d, "expected_fp32");
  assertSameTensor(
    got.weights.get("token_embedding.weight"),
    clip.get("token_embedding.weight")!,
    "token table",
  );

  // The rest of the file through the low-level reader: training state and the pickled yacs config.
  const file = readTorch(Deno.readFileSync(`${d}/ckpt_epoch_3.pth`), "ckpt_epoch_3.pth");
  const adamw = stateDict(file.root, ["optimizer", "state"]);
  const wantAdamw = readRaw(d, "expected_adamw");
  for (const [name, t] of wantAdamw) {
    if (name.endsWith(".step")) continue; // a float scalar in torch 1.13's AdamW; compared below
    const a = adamw.get(name);
    if (a && !(a.data instanceof Float32Array)) throw new Error(`optimizer.state.${name}: ${a.dtype}`);
    assertSameTensor(a as { shape: number[]; data: Float32Array } | undefined, t, `optimizer.state.${name}`);
  }
  const root = toPlain(file.root) as {
    epoch: number;
    max_accuracy: number;
    config: { TRAIN: { ACCUMULATION_STEPS: number }; DATA: { NUM_FRAMES: number } };
    lr_scheduler: { last_epoch: number; T_max: number };
  };
  const facts = [
    root.epoch,
    root.max_accuracy,
    root.config.TRAIN.ACCUMULATION_STEPS,
    root.config.DATA.NUM_FRAMES,
  ];
  if (JSON.stringify(facts) !== "[3,12.5,2,2]") throw new Error(`epoch/acc/config read as ${facts}`);
  if (root.lr_scheduler.last_epoch !== 1 || root.lr_scheduler.T_max !== 10) {
    throw new Error(`lr_scheduler read as ${JSON.stringify(root.lr_scheduler)}`);
  }
  const step = adamw.get("0.step");
  if (!step || step.data[0] !== 1) throw new Error(`AdamW step read as ${step?.data[0]}`);
});
