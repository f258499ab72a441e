// `weights inspect` describes every file it can read, however incomplete (issue 12): a ViFi-CLIP
// training checkpoint (no token embedding), a tiny one whose width no head width of 64 divides, a bare
// image tower, partial files a non-strict load accepts. Only loading refuses; inspect says so.

import { runCli as runCliNamed } from "../../run_cli.ts";
import { loadWeights } from "../../../lib/models/weights/load.ts";
import { describeWeights } from "../../../lib/models/weights/describe.ts";
import { fromModelNames } from "../../../lib/models/weights/keymap.ts";
import { type WritableTensor, writeTorchStateDict } from "../../../lib/io/torch.ts";
import {
  CLIP_CONFIGS,
  initClipWeights,
  initPromptWeights,
  type Weights,
} from "../../../lib/models/config.ts";

const tiny = CLIP_CONFIGS.tiny;
const runCli = (...args: string[]) => runCliNamed("weights", ...args);
const fixture = new URL("../../fixtures/torch/vifi_tiny.pth", import.meta.url).pathname;

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

/** What exportPth(model, path, { naming: "vifi" }) writes: the upstream's checkpoint layout. */
function vifiPth(w: Weights, extra: Record<string, number> = { epoch: 3 }): Uint8Array {
  const tensors = new Map<string, WritableTensor>();
  for (const [name, t] of fromModelNames(w, "vifi")) {
    tensors.set(name, { dtype: "f32", shape: t.shape, data: t.data });
  }
  return writeTorchStateDict(tensors, { wrapIn: "model", extra });
}

const count = (w: Weights, skip = "") =>
  [...w].reduce((n, [name, t]) => n + (name === skip ? 0 : t.data.length), 0);

Deno.test("weights inspect: a tiny ViFi-CLIP checkpoint (width 32, no token embedding) is described, exit 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-inspect12-" });
  try {
    const w = initClipWeights(tiny, 3);
    const prompts = initPromptWeights(tiny, { textCtx: 4, visionCtx: 2, textDepth: 1, visionDepth: 1 }, 5);
    const file = `${dir}/ckpt_epoch_3.pth`;
    await Deno.writeFile(file, vifiPth(new Map([...w, ...prompts])));

    const res = await runCli("inspect", file, "--json");
    check(res.code === 0, `exit ${res.code}\n${res.out}\n${res.err}`);
    const r = JSON.parse(res.out);
    check(r.format === "torch-zip" && r.naming === "vifi", `${r.format} ${r.naming}`);
    const a = r.arch;
    check(
      a.vision.width === 32 && a.vision.layers === 2 && a.vision.patch === 8 && a.vision.resolution === 32 &&
        a.vision.tokens === 17 && a.text.width === 32 && a.text.context === 16 && a.embedDim === 16,
      `arch ${JSON.stringify(a)}`,
    );
    // 32 / 64 is no head count: unknown, said so, and every shape still checked
    check(a.vision.heads === null && a.text.heads === null && a.text.vocab === null, JSON.stringify(a));
    check(r.unknown.some((u: string) => u.includes("not a multiple of the head width 64")), r.unknown);
    check(r.shapesChecked === true && r.report.mismatched.length === 0, JSON.stringify(r.report));
    check(r.params === count(w, "token_embedding.weight") + count(prompts), `params ${r.params}`);
    check(r.tensors === w.size - 1 + prompts.size && r.dtypes.F32 === r.tensors, JSON.stringify(r.dtypes));
    check(
      r.prompts.names.length === prompts.size && r.prompts.config.textCtx === 4,
      JSON.stringify(r.prompts),
    );
    check(
      JSON.stringify(r.report.missing) === '["token_embedding.weight"]',
      JSON.stringify(r.report.missing),
    );
    check(r.needs.includes("token embedding: supply a CLIP file with --clip-weights"), r.needs);
    check(r.needs.some((n: string) => n.startsWith("head width:")), r.needs);
    check(!r.load.strict.ok && !r.load.nonStrict.ok, JSON.stringify(r.load));
    check(
      !/[\r\n]/.test(r.load.nonStrict.error) && r.load.nonStrict.error.includes(file),
      r.load.nonStrict.error,
    );

    // with the head width, loading needs only the token embedding; a non-strict load takes it
    const hw = await describeWeights(file, { headWidth: 16 });
    check(hw.arch.vision.heads === 2 && hw.arch.text.heads === 2, JSON.stringify(hw.arch));
    check(
      JSON.stringify(hw.needs) === '["token embedding: supply a CLIP file with --clip-weights"]',
      hw.needs.join(),
    );
    check(!hw.load.strict.ok && hw.load.nonStrict.ok, JSON.stringify(hw.load));

    const text = await runCli("inspect", file);
    check(text.code === 0 && text.err === "", `exit ${text.code}\n${text.err}`);
    check(
      /heads \?/.test(text.out) && /needs\s+token embedding: supply a CLIP file/.test(text.out),
      text.out,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("weights inspect: vifi_tiny.pth (a bare image tower and a dropped buffer) is described, exit 0", async () => {
  const res = await runCli("inspect", fixture, "--json");
  check(res.code === 0, `exit ${res.code}\n${res.out}\n${res.err}`);
  const r = JSON.parse(res.out);
  check(r.format === "torch-zip" && r.naming === "vifi", `${r.format} ${r.naming}`);
  const v = r.arch.vision;
  check(v.width === 4 && v.patch === 2 && v.resolution === 4 && v.layers === 0, JSON.stringify(v));
  check(
    r.arch.text.width === null && r.arch.embedDim === null && r.shapesChecked === false,
    JSON.stringify(r),
  );
  // conv1 4·3·2·2 + class 4 + positional 5·4 + logit_scale 1
  check(r.params === 73 && r.mapped === 4 && r.tensors === 5, `params ${r.params} mapped ${r.mapped}`);
  check(r.dtypes.F32 === 4 && r.dtypes.F16 === 1, JSON.stringify(r.dtypes));
  check(r.report.dropped[0] === "module.prompt_learner.complete_text_embeddings", JSON.stringify(r.report));
  check(r.report.missing.includes("text_projection") && r.report.missing.includes("visual.proj"), "missing");
  check(r.needs.some((n: string) => n.startsWith("architecture:") && n.includes("text_projection")), r.needs);
  check(!r.load.nonStrict.ok && r.load.nonStrict.error.includes("vifi_tiny.pth"), JSON.stringify(r.load));
});

Deno.test("describeWeights: any partial file loadWeights({ strict: false }) accepts is described as it loads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-inspect12-" });
  try {
    const w = initClipWeights(tiny, 4);
    const tensors = new Map<string, WritableTensor>();
    for (const [name, t] of w) {
      if (name === "transformer.resblocks.0.attn.in_proj_weight" || name === "visual.ln_post.bias") continue;
      tensors.set(name, { dtype: "f16", shape: t.shape, data: t.data });
    }
    tensors.set("visual.ln_pre.weight", { dtype: "f32", shape: [31], data: new Float32Array(31) });
    tensors.set("extra.head.weight", { dtype: "f32", shape: [2, 2], data: new Float32Array(4) });
    const file = `${dir}/partial.pt`;
    await Deno.writeFile(file, writeTorchStateDict(tensors));
    const loaded = await loadWeights(file, { strict: false, headWidth: 16 });
    const d = await describeWeights(file, { headWidth: 16 });
    check(d.load.nonStrict.ok && !d.load.strict.ok, JSON.stringify(d.load));
    const { tokens: _, ...vision } = d.arch.vision;
    const c = loaded.config;
    check(
      JSON.stringify([d.arch.embedDim, vision, d.arch.text]) ===
        JSON.stringify([c.embedDim, c.vision, c.text]),
      `${JSON.stringify(d.arch)} vs ${JSON.stringify(c)}`,
    );
    check(d.params === loaded.params && d.mapped === loaded.weights.size, `${d.params} vs ${loaded.params}`);
    check(JSON.stringify(d.report) === JSON.stringify(loaded.report), JSON.stringify(d.report));
    check(d.report.mismatched[0]?.name === "visual.ln_pre.weight", JSON.stringify(d.report.mismatched));
    check(d.report.unexpected.includes("extra.head.weight"), d.report.unexpected.join());
    check(d.needs.some((n) => n.startsWith("2 more missing tensors")), d.needs.join("|"));

    // only a file that is not weights at all is refused
    await Deno.writeFile(`${dir}/junk.pth`, new TextEncoder().encode("not weights"));
    const junk = await runCli("inspect", `${dir}/junk.pth`);
    check(junk.code === 1 && junk.err.trim().split("\n").length === 1, `exit ${junk.code}: ${junk.err}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
