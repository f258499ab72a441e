// loadWeights on files written to a temp folder, and `deno task weights inspect --json` as a
// separate process: its JSON contract and exit codes.

import { runCli as runCliNamed } from "../run_cli.ts";
import { type WritableTensor, writeSafetensors } from "../../lib/io/safetensors.ts";
import { loadWeights } from "../../lib/models/weights/load.ts";
import { selectStateDict, type TorchContents } from "../../lib/io/tensor-file.ts";
import { writeTorchStateDict } from "../../lib/io/torch.ts";
import { CLIP_CONFIGS, initClipWeights, initPromptWeights, type Weights } from "../../lib/models/config.ts";

const tiny = CLIP_CONFIGS.tiny;

function tensorsOf(w: Weights, rename = (n: string) => n, dtype: "F32" | "F16" = "F32") {
  const out = new Map<string, WritableTensor>();
  for (const [name, t] of w) out.set(rename(name), { dtype, shape: t.shape, data: t.data });
  return out;
}

function toVifi(name: string): string | undefined {
  if (name === "token_embedding.weight") return undefined;
  if (name.startsWith("visual.")) return `module.image_encoder.${name.slice(7)}`;
  if (name === "logit_scale" || name.includes("VPT") || name.startsWith("prompt_learner")) {
    return `module.${name}`;
  }
  return `module.text_encoder.${name}`;
}

const runCli = (...args: string[]) => runCliNamed("weights", ...args);

Deno.test("loadWeights: fp16 safetensors under a .pt name, vifi checkpoints, clear refusals", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-weights-" });
  try {
    const w = initClipWeights(tiny, 1);
    // the extension says torch, the bytes say safetensors: the bytes win
    const pt = `${dir}/clip.pt`;
    await Deno.writeFile(pt, writeSafetensors(tensorsOf(w, undefined, "F16")));
    const got = await loadWeights(pt, { headWidth: 16 });
    if (got.format !== "safetensors" || got.naming !== "openai") {
      throw new Error(`${got.format} ${got.naming}`);
    }
    if (got.dtypes.F16 !== w.size) throw new Error(JSON.stringify(got.dtypes));
    const want = w.get("visual.proj")!.data;
    const back = got.weights.get("visual.proj")!.data;
    if (!(back instanceof Float32Array)) throw new Error("weights are not float32");
    for (let i = 0; i < want.length; i++) {
      if (back[i] !== Math.fround(new Float16Array([want[i]])[0])) throw new Error(`visual.proj[${i}]`);
    }

    // vifi's own checkpoint: conv1 stored as the model's [W, 3·P·P] matrix, AdamW moments beside
    const ck = tensorsOf(w);
    const conv = w.get("visual.conv1.weight")!;
    ck.set("visual.conv1.weight", { dtype: "F32", shape: [32, 3 * 8 * 8], data: conv.data });
    ck.set("optimizer.m.visual.proj", { dtype: "F32", shape: [32, 16], data: new Float32Array(512) });
    const meta = { format: "vifi-checkpoint", model: { config: tiny } };
    await Deno.writeFile(
      `${dir}/run.ckpt`,
      writeSafetensors(ck, { format: "vifi-checkpoint", vifi: JSON.stringify(meta) }),
    );
    // no headWidth: the checkpoint records its heads
    const v = await loadWeights(`${dir}/run.ckpt`);
    if (v.format !== "vifi-checkpoint" || v.config.vision.heads !== 2) {
      throw new Error(JSON.stringify(v.config));
    }
    if (v.weights.get("visual.conv1.weight")!.shape.join() !== "32,3,8,8") {
      throw new Error("conv1 not reshaped");
    }
    if (!v.report.dropped.includes("optimizer.m.visual.proj")) throw new Error(`dropped ${v.report.dropped}`);

    await Deno.writeFile(`${dir}/junk.pth`, new TextEncoder().encode("hello world, not weights"));
    let msg = "";
    try {
      await loadWeights(`${dir}/junk.pth`);
    } catch (e) {
      msg = (e as Error).message;
    }
    if (!msg.includes("junk.pth") || !msg.includes("not a safetensors, PyTorch zip or TorchScript")) {
      throw new Error(msg);
    }
    try {
      await loadWeights(`${dir}/absent.safetensors`);
    } catch (e) {
      msg = (e as Error).message;
    }
    if (!msg.includes("absent.safetensors")) throw new Error(msg);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("torch checkpoints: the `model` sub-dict is the state dict, by identity or by key prefix", () => {
  const t = (n: number) => ({ dtype: "float32", shape: [n], data: new Float32Array(n) });
  const a = t(1), b = t(2), moment = t(1);
  const byIdentity: TorchContents<unknown> = {
    root: {
      model: new Map<string, unknown>([["module.logit_scale", a], ["module.image_encoder.ln_post.bias", b]]),
      optimizer: { state: { 0: { exp_avg: moment } } },
      epoch: 3,
    },
    tensors: new Map([["model.module.logit_scale", a], ["model.module.image_encoder.ln_post.bias", b], [
      "optimizer.state.0.exp_avg",
      moment,
    ]]),
  };
  const sd = selectStateDict(byIdentity, "ckpt.pth");
  if (
    [...sd.keys()].join() !== "module.logit_scale,module.image_encoder.ln_post.bias" ||
    sd.get("module.logit_scale") !== a
  ) {
    throw new Error([...sd.keys()].join());
  }
  const byPrefix: TorchContents<unknown> = {
    ...byIdentity,
    root: { state_dict: { opaque: true } },
    tensors: new Map([["state_dict.visual.proj", a], ["other", b]]),
  };
  if ([...selectStateDict(byPrefix, "x.pth").keys()].join() !== "visual.proj") {
    throw new Error("prefix selection");
  }
  const plain: TorchContents<unknown> = { root: null, tensors: new Map([["visual.proj", a]]) };
  if (selectStateDict(plain, "y.pt") !== plain.tensors) {
    throw new Error("a plain state dict must pass through");
  }
});

Deno.test("torch zip: a ViFi-CLIP-style .pth (state dict under `model`, fp16) plus an OpenAI .pt for the token embedding", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-torch-" });
  try {
    const w = initClipWeights(tiny, 5);
    const half = (x: Float32Array) => Float32Array.from(new Float16Array(x));
    const vifi = new Map<string, { dtype: "f16"; shape: number[]; data: Float32Array }>();
    for (const [name, t] of w) {
      const to = toVifi(name);
      if (to) vifi.set(to, { dtype: "f16", shape: t.shape, data: t.data });
    }
    await Deno.writeFile(
      `${dir}/ckpt_epoch_10.pth`,
      writeTorchStateDict(vifi, { wrapIn: "model", extra: { epoch: 10 } }),
    );
    const tok = w.get("token_embedding.weight")!;
    await Deno.writeFile(
      `${dir}/clip.pt`,
      writeTorchStateDict(
        new Map([["token_embedding.weight", { dtype: "f32" as const, shape: tok.shape, data: tok.data }]]),
      ),
    );
    const got = await loadWeights(`${dir}/ckpt_epoch_10.pth`, {
      headWidth: 16,
      clipWeights: `${dir}/clip.pt`,
    });
    if (got.format !== "torch-zip" || got.naming !== "vifi") throw new Error(`${got.format} ${got.naming}`);
    if (got.dtypes.F16 !== vifi.size || Object.keys(got.dtypes).length !== 1) {
      throw new Error(JSON.stringify(got.dtypes));
    }
    for (const [name, t] of w) {
      const want = name === "token_embedding.weight" ? t.data : half(t.data);
      const back = got.weights.get(name)!.data;
      for (let i = 0; i < want.length; i++) if (back[i] !== want[i]) throw new Error(`${name}[${i}]`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("weights inspect --json: format, naming, architecture, params; a strict refusal is reported, exit 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-inspect-" });
  try {
    const w = initClipWeights(tiny, 2);
    const prompts = initPromptWeights(tiny, { textCtx: 4, visionCtx: 3, textDepth: 2, visionDepth: 1 }, 4);
    const vifi = new Map<string, WritableTensor>();
    for (const [name, t] of [...w, ...prompts]) {
      const to = toVifi(name);
      if (to) vifi.set(to, { dtype: "F16", shape: t.shape, data: t.data });
    }
    vifi.set("module.prompt_learner.token_prefix", {
      dtype: "F32",
      shape: [2, 1, 32],
      data: new Float32Array(64),
    });
    await Deno.writeFile(`${dir}/vifi.safetensors`, writeSafetensors(vifi));
    await Deno.writeFile(`${dir}/clip.safetensors`, writeSafetensors(tensorsOf(w)));

    const ok = await runCli(
      "inspect",
      `${dir}/vifi.safetensors`,
      "--json",
      "--head-width",
      "16",
      "--clip-weights",
      `${dir}/clip.safetensors`,
    );
    if (ok.code !== 0) throw new Error(`exit ${ok.code}\n${ok.out}\n${ok.err}`);
    const r = JSON.parse(ok.out);
    if (r.format !== "safetensors" || r.naming !== "vifi") throw new Error(`${r.format} ${r.naming}`);
    const a = r.arch;
    if (
      a.embedDim !== 16 || a.vision.width !== 32 || a.vision.layers !== 2 || a.vision.patch !== 8 ||
      a.vision.resolution !== 32 || a.text.context !== 16 || a.text.vocab !== 512 || a.text.heads !== 2
    ) throw new Error(`arch ${JSON.stringify(a)}`);
    let params = 0;
    for (const t of [...w.values(), ...prompts.values()]) params += t.data.length;
    if (r.params !== params) throw new Error(`params ${r.params}, want ${params}`);
    if (r.prompts.names.length !== prompts.size || r.prompts.config.textCtx !== 4) {
      throw new Error(`prompts ${JSON.stringify(r.prompts)}`);
    }
    if (r.dtypes.F16 !== vifi.size - 1 || r.report.supplied[0] !== "token_embedding.weight") {
      throw new Error(JSON.stringify(r));
    }

    // without the CLIP file the token embedding is missing: inspect still describes (exit 0), says what
    // loading needs, and that a strict load refuses while a non-strict one accepts
    const strict = await runCli("inspect", `${dir}/vifi.safetensors`, "--json", "--head-width", "16");
    if (strict.code !== 0) throw new Error(`strict exit ${strict.code}\n${strict.out}\n${strict.err}`);
    const e = JSON.parse(strict.out);
    if (
      !e.load.strict.error.includes("token_embedding.weight") || !e.load.nonStrict.ok ||
      e.report.missing[0] !== "token_embedding.weight" ||
      e.needs[0] !== "token embedding: supply a CLIP file with --clip-weights"
    ) {
      throw new Error(strict.out);
    }
    const loose = await runCli("inspect", `${dir}/vifi.safetensors`, "--non-strict", "--head-width", "16");
    if (
      loose.code !== 0 || !/naming\s+vifi/.test(loose.out) ||
      !/missing\s+1: token_embedding.weight/.test(loose.out)
    ) {
      throw new Error(`exit ${loose.code}\n${loose.out}\n${loose.err}`);
    }
    const usage = await runCli("inspect");
    if (usage.code !== 2 || !usage.err.includes("usage")) {
      throw new Error(`usage exit ${usage.code}: ${usage.err}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
