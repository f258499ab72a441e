import {
  detectNaming,
  fromModelNames,
  mapWeights,
  type SourceTensor,
  WeightMappingError,
} from "../../../lib/models/weights/keymap.ts";
import {
  CLIP_CONFIGS,
  initClipWeights,
  initPromptWeights,
  type PromptConfig,
  type Weights,
} from "../../../lib/models/config.ts";

const tiny = CLIP_CONFIGS.tiny;
/** tiny's heads are 16 wide; released CLIPs use 64 */
const headWidth = 16;
const openai = () => initClipWeights(tiny, 3, { randomNorms: true });
const promptConfig: PromptConfig = { textCtx: 4, visionCtx: 3, textDepth: 2, visionDepth: 2 };

function sameWeights(got: Weights, want: Weights, what: string) {
  const a = [...got.keys()].sort(), b = [...want.keys()].sort();
  if (a.join() !== b.join()) {
    throw new Error(
      `${what}: names differ\n extra ${a.filter((n) => !want.has(n))}\n lacking ${
        b.filter((n) => !got.has(n))
      }`,
    );
  }
  for (const [name, w] of want) {
    const g = got.get(name)!;
    if (g.shape.join() !== w.shape.join()) {
      throw new Error(`${what}: ${name} shape [${g.shape}] vs [${w.shape}]`);
    }
    for (let i = 0; i < w.data.length; i++) {
      if (g.data[i] !== w.data[i]) {
        throw new Error(`${what}: ${name}[${i}] = ${g.data[i]}, want ${w.data[i]}`);
      }
    }
  }
}

function sameArch(got: typeof tiny, what: string) {
  const strip = ({ name: _, ...rest }: typeof tiny) => JSON.stringify(rest);
  if (strip(got) !== strip(tiny)) throw new Error(`${what}: inferred ${JSON.stringify(got)}`);
}

// The foreign spellings are written out here by hand, independently of keymap's own inverse.

function asVifi(w: Weights, prefix = "module."): Map<string, SourceTensor> {
  const out = new Map<string, SourceTensor>();
  for (const [name, t] of w) {
    if (name === "token_embedding.weight") continue; // ViFi-CLIP's module has none
    let to: string;
    if (name.startsWith("visual.")) to = `image_encoder.${name.slice(7)}`;
    else if (name.startsWith("transformer.")) to = `text_encoder.${name}`;
    else if (["positional_embedding", "ln_final.weight", "ln_final.bias", "text_projection"].includes(name)) {
      to = `text_encoder.${name}`;
    } else to = name;
    out.set(prefix + to, t);
  }
  out.set(`${prefix}prompt_learner.complete_text_embeddings`, {
    shape: [5, 16, 32],
    data: new Float32Array(5 * 16 * 32),
  });
  return out;
}

function transpose(t: { shape: number[]; data: Float32Array }) {
  const [r, c] = t.shape;
  const data = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) data[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data };
}

function asHf(w: Weights): Map<string, SourceTensor> {
  const out = new Map<string, SourceTensor>();
  const fixed: Record<string, string> = {
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
    "logit_scale": "logit_scale",
  };
  const sub: [string, string][] = [
    ["attn.out_proj.", "self_attn.out_proj."],
    ["ln_1.", "layer_norm1."],
    ["ln_2.", "layer_norm2."],
    ["mlp.c_fc.", "mlp.fc1."],
    ["mlp.c_proj.", "mlp.fc2."],
  ];
  for (const [name, t] of w) {
    if (fixed[name]) out.set(fixed[name], t);
    else if (name === "visual.proj") out.set("visual_projection.weight", transpose(t));
    else if (name === "text_projection") out.set("text_projection.weight", transpose(t));
    else {
      const m = /^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$/.exec(name)!;
      const base = `${m[1] ? "vision_model" : "text_model"}.encoder.layers.${m[2]}.`;
      const inProj = /^attn\.in_proj_(weight|bias)$/.exec(m[3]);
      if (inProj) {
        const third = t.data.length / 3;
        ["q", "k", "v"].forEach((p, i) =>
          out.set(`${base}self_attn.${p}_proj.${inProj[1]}`, {
            shape: [t.shape[0] / 3, ...t.shape.slice(1)],
            data: t.data.slice(i * third, (i + 1) * third),
          })
        );
      } else {
        const [from, to] = sub.find(([f]) => m[3].startsWith(f))!;
        out.set(base + to + m[3].slice(from.length), t);
      }
    }
  }
  out.set("text_model.embeddings.position_ids", { shape: [1, 16], data: new BigInt64Array(16) });
  out.set("vision_model.embeddings.position_ids", { shape: [1, 17], data: new BigInt64Array(17) });
  return out;
}

Deno.test("OpenAI names map to themselves and the architecture is read off the shapes", () => {
  const w = openai();
  const jit = new Map<string, SourceTensor>(w);
  jit.set("input_resolution", { shape: [], data: new BigInt64Array([32n]) });
  const m = mapWeights(jit, { headWidth });
  if (m.naming !== "openai") throw new Error(m.naming);
  sameArch(m.config, "openai");
  sameWeights(m.weights, w, "openai");
  if (m.report.dropped.join() !== "input_resolution") throw new Error(`dropped ${m.report.dropped}`);
  if (m.prompts) throw new Error("no prompts expected");
});

Deno.test("Hugging Face names: q/k/v fused, projections transposed, position_ids dropped", () => {
  const w = openai();
  const hf = asHf(w);
  if (detectNaming(hf.keys()) !== "hf") throw new Error("not detected as hf");
  const m = mapWeights(hf, { headWidth });
  sameArch(m.config, "hf");
  sameWeights(m.weights, w, "hf");
  if (m.report.dropped.length !== 2) throw new Error(`dropped ${m.report.dropped}`);
  // and back: our export reproduces the hand-written HF spelling exactly
  const back = fromModelNames(w, "hf");
  hf.delete("text_model.embeddings.position_ids");
  hf.delete("vision_model.embeddings.position_ids");
  sameWeights(back, hf as Weights, "hf export");
});

Deno.test("ViFi names lack the token embedding: strict refuses, a CLIP source supplies it", () => {
  const w = openai();
  const vifi = asVifi(w);
  if (detectNaming(vifi.keys()) !== "vifi") throw new Error("not detected as vifi");
  let err: unknown;
  try {
    mapWeights(vifi, { headWidth, source: "ckpt.pth" });
  } catch (e) {
    err = e;
  }
  if (!(err instanceof WeightMappingError)) throw new Error(`expected a WeightMappingError, got ${err}`);
  for (const part of ["ckpt.pth", "1 missing: token_embedding.weight", "supply an OpenAI CLIP file"]) {
    if (!err.message.includes(part)) throw new Error(`message lacks ${JSON.stringify(part)}: ${err.message}`);
  }
  const loose = mapWeights(vifi, { headWidth, strict: false });
  if (loose.report.missing.join() !== "token_embedding.weight") {
    throw new Error(`missing ${loose.report.missing}`);
  }
  if (loose.weights.size !== w.size - 1) throw new Error(`${loose.weights.size} weights`);

  const clip = new Map([["token_embedding.weight", w.get("token_embedding.weight")!]]);
  const m = mapWeights(vifi, { headWidth, supplement: clip });
  sameArch(m.config, "vifi");
  sameWeights(m.weights, w, "vifi + clip");
  if (m.report.supplied.join() !== "token_embedding.weight") throw new Error(`supplied ${m.report.supplied}`);
  if (m.report.dropped.join() !== "module.prompt_learner.complete_text_embeddings") {
    throw new Error(`dropped ${m.report.dropped}`);
  }
  // the supplement may itself be in another naming
  const m2 = mapWeights(asVifi(w, ""), { headWidth, supplement: asHf(w) });
  sameWeights(m2.weights, w, "vifi + hf clip");
});

Deno.test("prompt tensors are found, their counts and depths inferred, buffers dropped", () => {
  const w = openai();
  const p = initPromptWeights(tiny, promptConfig, 9);
  const src = asVifi(w);
  for (const [name, t] of p) src.set(`module.${name}`, t);
  src.delete("module.prompt_learner.complete_text_embeddings");
  src.set("module.prompt_learner.token_prefix", { shape: [5, 1, 32], data: new Float32Array(160) });
  src.set("module.prompt_learner.token_suffix", { shape: [5, 11, 32], data: new Float32Array(5 * 11 * 32) });
  const m = mapWeights(src, { headWidth, supplement: w });
  if (!m.prompts) throw new Error("no prompts found");
  if (JSON.stringify(m.prompts.config) !== JSON.stringify(promptConfig)) {
    throw new Error(`prompt config ${JSON.stringify(m.prompts.config)}`);
  }
  sameWeights(m.prompts.weights, p, "prompts");
  sameWeights(m.weights, w, "clip beside prompts");
  if (m.report.prompts.length !== p.size) throw new Error(`report.prompts ${m.report.prompts}`);
  if (m.report.dropped.length !== 2) throw new Error(`dropped ${m.report.dropped}`);

  // a ViFi checkpoint exported by us reads back to the same tensors
  const exported = fromModelNames(new Map([...w, ...p]), "vifi");
  if (exported.has("module.token_embedding.weight")) throw new Error("vifi export has a token embedding");
  if (!exported.has("module.image_encoder.VPT")) throw new Error("vifi export lost module.image_encoder.VPT");
  const again = mapWeights(exported, { headWidth, supplement: w });
  sameWeights(again.prompts!.weights, p, "exported prompts");
  sameWeights(again.weights, w, "exported clip");

  // a prompts-only file is a ViFi prompt checkpoint, checked against the CLIP it is paired with
  if (detectNaming(p.keys()) !== "vifi") throw new Error("prompt-only file not detected as vifi");
});

Deno.test("strict failure lists missing, unexpected and mis-shaped tensors; non-strict keeps what fits", () => {
  const src = new Map<string, SourceTensor>(openai());
  src.delete("visual.ln_post.bias");
  src.delete("transformer.resblocks.1.mlp.c_fc.weight");
  src.set("visual.extra_head.weight", { shape: [2, 2], data: new Float32Array(4) });
  src.set("ln_final.weight", { shape: [31], data: new Float32Array(31) });
  let msg = "";
  try {
    mapWeights(src, { headWidth, source: "bad.safetensors" });
  } catch (e) {
    msg = (e as Error).message;
  }
  for (
    const part of [
      "bad.safetensors",
      "2 missing",
      "visual.ln_post.bias",
      "transformer.resblocks.1.mlp.c_fc.weight",
      "1 unexpected: visual.extra_head.weight",
      "1 with the wrong shape: ln_final.weight [31] (expected [32])",
    ]
  ) {
    if (!msg.includes(part)) throw new Error(`message lacks ${JSON.stringify(part)}: ${msg}`);
  }
  const m = mapWeights(src, { headWidth, strict: false });
  if (m.report.missing.length !== 2 || m.report.unexpected.length !== 1 || m.report.mismatched.length !== 1) {
    throw new Error(JSON.stringify(m.report));
  }
  if (m.weights.has("ln_final.weight") || m.weights.has("visual.extra_head.weight")) {
    throw new Error("non-strict returned a tensor that does not fit");
  }

  // long lists are cut to a few names and a count
  const many = new Map<string, SourceTensor>(openai());
  for (let i = 0; i < 12; i++) many.set(`visual.junk${i}`, { shape: [1], data: new Float32Array(1) });
  try {
    mapWeights(many, { headWidth });
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("12 unexpected") || !msg.includes("(7 more)") || msg.includes("junk11")) {
    throw new Error(`unhelpful summary: ${msg}`);
  }
});

Deno.test("unknown names are refused up front", () => {
  const src = new Map<string, SourceTensor>([["encoder.layer.0.weight", {
    shape: [1],
    data: new Float32Array(1),
  }]]);
  let msg = "";
  try {
    mapWeights(src, { source: "what.bin" });
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("what.bin") || !msg.includes("cannot tell which naming")) throw new Error(msg);
});
