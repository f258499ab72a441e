// The VL-prompting ("bridge and prompt") variant of the float64 reference: prompt rows land in the
// right slots, each layer's prompts matter exactly when the layer is within the depth, vision prompts
// carry no position, and bad prompt tensors fail with a message that names them.

import {
  clipConfig,
  initClipWeights,
  initPromptWeights,
  type PromptConfig,
  promptShapes,
  type Weights,
} from "../../lib/models/config.ts";
import {
  imageTowerReference,
  textTowerReference,
  validatePromptWeights,
  vifiLogitsReference,
} from "../../lib/models/reference.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";

const seed = sessionSeed();
console.log(`prompt reference tests: seed ${seed} (replay with VIFI_SEED=${seed})`);

const tiny = clipConfig("tiny");
const { width: Wt, context: CTX, vocab: V } = tiny.text;
const { width: Wv, resolution: R } = tiny.vision;
const SOT = V - 2, EOT = V - 1, X = 343; // X stands in for the "X" placeholder token
const nT = 4, nV = 3;

/** C rows "SOT X×nT name . EOT 0…" with random name lengths 1…4. */
function promptTokens(rng: Rng, C: number): Int32Array {
  const out = new Int32Array(C * CTX);
  for (let c = 0; c < C; c++) {
    const row = [SOT, ...Array(nT).fill(X)];
    const len = 1 + rng.int(4);
    for (let k = 0; k < len; k++) row.push(1 + rng.int(V - 3));
    row.push(269, EOT);
    out.set(row, c * CTX);
  }
  return out;
}

function frames(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n * 3 * R * R }, () => 1.5 * rng.normal());
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function expectSame(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-12): void {
  const d = maxAbsDiff(got, want);
  if (!(d <= tol * Math.max(1, maxAbs(want)))) throw new Error(`${what}: differs by ${d} (seed ${seed})`);
}

function expectDifferent(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  const d = maxAbsDiff(got, want);
  if (!(d > 1e-6 * maxAbs(want))) throw new Error(`${what}: unchanged (max diff ${d}, seed ${seed})`);
}

/** A copy of w with `name` replaced by fresh N(0, 0.02²) values (or by `data`). */
function withTensor(w: Weights, name: string, rng: Rng, data?: Float32Array): Weights {
  const out: Weights = new Map(w);
  const t = w.get(name)!;
  out.set(name, {
    shape: t.shape,
    data: data ?? Float32Array.from({ length: t.data.length }, () => 0.02 * rng.normal()),
  });
  return out;
}

/** Block 0 of a tower becomes the identity: zero attention and MLP outputs, exactly. */
function zeroBlock0(w: Weights, prefix: string): Weights {
  const out: Weights = new Map(w);
  for (const n of ["attn.out_proj.weight", "attn.out_proj.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]) {
    const t = w.get(`${prefix}.resblocks.0.${n}`)!;
    out.set(`${prefix}.resblocks.0.${n}`, { shape: t.shape, data: new Float32Array(t.data.length) });
  }
  return out;
}

const deep: PromptConfig = { textCtx: nT, visionCtx: nV, textDepth: 2, visionDepth: 2 };
const shallow: PromptConfig = { ...deep, textDepth: 1, visionDepth: 1 };

Deno.test("promptShapes: names in order, and the spec's parameter counts for ViT-B/16", () => {
  const names = promptShapes(tiny, deep).map(([n, s]) => `${n} [${s.join(", ")}]`);
  const want = [
    `prompt_learner.ctx [${nT}, ${Wt}]`,
    `text_encoder.transformer.resblocks.1.VPT_shallow [${nT}, ${Wt}]`,
    `image_encoder.VPT [${nV}, ${Wv}]`,
    `image_encoder.transformer.resblocks.1.VPT_shallow [${nV}, ${Wv}]`,
  ];
  if (JSON.stringify(names) !== JSON.stringify(want)) throw new Error(`got ${JSON.stringify(names)}`);
  if (promptShapes(tiny, { ...deep, visionDepth: 0 }).some(([n]) => n.startsWith("image_encoder"))) {
    throw new Error("visionDepth 0 must list no vision prompts");
  }
  const b16 = clipConfig("ViT-B/16");
  const count = (p: PromptConfig) =>
    promptShapes(b16, p).reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
  const b2n = count({ textCtx: 16, visionCtx: 16, textDepth: 9, visionDepth: 9 });
  const fs = count({ textCtx: 10, visionCtx: 10, textDepth: 12, visionDepth: 12 });
  if (b2n !== 184320 || fs !== 153600) {
    throw new Error(`counts ${b2n}, ${fs} ≠ 184320, 153600 (docs/upstream.md §2.5)`);
  }
});

Deno.test("initPromptWeights: N(0, 0.02²), deterministic per seed, valid", () => {
  const b16 = clipConfig("ViT-B/16");
  const p = { textCtx: 10, visionCtx: 10, textDepth: 12, visionDepth: 12 };
  const a = initPromptWeights(b16, p, seed), b = initPromptWeights(b16, p, seed);
  validatePromptWeights(b16, p, a);
  let n = 0, s = 0, s2 = 0;
  for (const [name, t] of a) {
    expectSame(name, t.data, b.get(name)!.data, 0);
    for (const v of t.data) (n++, s += v, s2 += v * v);
  }
  const std = Math.sqrt(s2 / n - (s / n) ** 2);
  if (n !== 153600 || Math.abs(std - 0.02) > 0.001 || Math.abs(s / n) > 0.001) {
    throw new Error(`n ${n}, mean ${s / n}, std ${std} (seed ${seed})`);
  }
});

Deno.test("text, depth 1: ctx equal to the placeholder embeddings reproduces the plain tower exactly", () => {
  const rng = new Rng(seed);
  const w = initClipWeights(tiny, seed, { randomNorms: true });
  const tokens = promptTokens(rng, 3);
  const plain = textTowerReference(tiny, w, tokens, 3);

  const tok = w.get("token_embedding.weight")!.data;
  const ctx = new Float32Array(nT * Wt);
  for (let r = 0; r < nT; r++) ctx.set(tok.subarray(X * Wt, (X + 1) * Wt), r * Wt);
  const pw = withTensor(initPromptWeights(tiny, shallow, seed), "prompt_learner.ctx", rng, ctx);
  expectSame(
    "prompted = plain",
    textTowerReference(tiny, w, tokens, 3, { config: shallow, weights: pw }),
    plain,
    0,
  );

  // Each slot 1 … nT is read: disturbing any single ctx row changes every class's embedding.
  for (let r = 0; r < nT; r++) {
    const c2 = ctx.slice();
    c2[r * Wt] += 0.5;
    const out = textTowerReference(tiny, w, tokens, 3, {
      config: shallow,
      weights: withTensor(pw, "prompt_learner.ctx", rng, c2),
    });
    for (let c = 0; c < 3; c++) {
      const E = tiny.embedDim;
      expectDifferent(
        `ctx row ${r}, class ${c}`,
        out.subarray(c * E, (c + 1) * E),
        plain.subarray(c * E, (c + 1) * E),
      );
    }
  }
});

Deno.test("text, depth 2: block 1's VPT_shallow replaces exactly slots 1 … nT", () => {
  // With block 0 the identity and zero positional embeddings in the slots, the rows entering block 1
  // at slots 1 … nT are ctx itself, so VPT_shallow = ctx must leave the output unchanged.
  const rng = new Rng(seed + 1);
  const base = zeroBlock0(initClipWeights(tiny, seed, { randomNorms: true }), "transformer");
  const pos = base.get("positional_embedding")!;
  const pos2 = pos.data.slice();
  pos2.fill(0, Wt, (1 + nT) * Wt);
  const w: Weights = new Map(base).set("positional_embedding", { shape: pos.shape, data: pos2 });
  const tokens = promptTokens(rng, 2);
  const pw = initPromptWeights(tiny, deep, seed);
  const ctx = pw.get("prompt_learner.ctx")!.data;
  const one = textTowerReference(tiny, w, tokens, 2, { config: shallow, weights: pw });
  const same = withTensor(pw, "text_encoder.transformer.resblocks.1.VPT_shallow", rng, ctx.slice());
  expectSame(
    "VPT_shallow = ctx",
    textTowerReference(tiny, w, tokens, 2, { config: deep, weights: same }),
    one,
    0,
  );
  const other = textTowerReference(tiny, w, tokens, 2, { config: deep, weights: pw });
  expectDifferent("random VPT_shallow", other, one);
});

Deno.test("text: block 1's VPT_shallow matters only when textDepth ≥ 2", () => {
  const rng = new Rng(seed + 2);
  const w = initClipWeights(tiny, seed, { randomNorms: true });
  const tokens = promptTokens(rng, 2);
  const pw = initPromptWeights(tiny, deep, seed);
  const pw2 = withTensor(pw, "text_encoder.transformer.resblocks.1.VPT_shallow", rng);
  const run = (p: PromptConfig, weights: Weights) =>
    textTowerReference(tiny, w, tokens, 2, { config: p, weights });
  expectSame("depth 1 ignores VPT_shallow", run(shallow, pw2), run(shallow, pw), 0);
  expectDifferent("depth 2 reads VPT_shallow", run(deep, pw2), run(deep, pw));
  // Text prompts never touch the image tower.
  const fr = frames(rng, 1);
  const noVision = { ...deep, visionDepth: 0 };
  expectSame(
    "image tower without vision prompts",
    imageTowerReference(tiny, w, fr, 1, {
      config: noVision,
      weights: initPromptWeights(tiny, noVision, seed),
    }),
    imageTowerReference(tiny, w, fr, 1),
    0,
  );
});

Deno.test("vision: appended prompts change the class token, carry no position, and obey the depth", () => {
  const rng = new Rng(seed + 3);
  const w = initClipWeights(tiny, seed, { randomNorms: true });
  const fr = frames(rng, 2);
  const pw = initPromptWeights(tiny, deep, seed);
  const run = (p: PromptConfig, weights: Weights) =>
    imageTowerReference(tiny, w, fr, 2, { config: p, weights });
  const plain = imageTowerReference(tiny, w, fr, 2);
  const one = run(shallow, pw);
  expectDifferent("appended VPT", one, plain);

  // No positional embedding and full attention: the order of the prompt rows cannot matter.
  const vpt = pw.get("image_encoder.VPT")!.data;
  const rev = new Float32Array(vpt.length);
  for (let r = 0; r < nV; r++) rev.set(vpt.subarray(r * Wv, (r + 1) * Wv), (nV - 1 - r) * Wv);
  expectSame("VPT rows reversed", run(shallow, withTensor(pw, "image_encoder.VPT", rng, rev)), one);

  const pw2 = withTensor(pw, "image_encoder.transformer.resblocks.1.VPT_shallow", rng);
  expectSame("depth 1 ignores VPT_shallow", run(shallow, pw2), one, 0);
  expectDifferent("depth 2 reads VPT_shallow", run(deep, pw2), run(deep, pw));
});

Deno.test("vision, depth 2: block 1's VPT_shallow replaces exactly the last nV tokens", () => {
  // With block 0 the identity, the prompt rows entering block 1 are ln_pre(VPT); handing that back
  // as VPT_shallow (rounded to f32) must reproduce depth 1 up to that rounding.
  const rng = new Rng(seed + 4);
  const w = zeroBlock0(initClipWeights(tiny, seed, { randomNorms: true }), "visual.transformer");
  const fr = frames(rng, 1);
  const pw = initPromptWeights(tiny, deep, seed);
  const vpt = pw.get("image_encoder.VPT")!.data;
  const g = w.get("visual.ln_pre.weight")!.data, b = w.get("visual.ln_pre.bias")!.data;
  const normed = new Float32Array(vpt.length);
  for (let r = 0; r < nV; r++) {
    const row = vpt.subarray(r * Wv, (r + 1) * Wv);
    const mean = row.reduce((a, v) => a + v, 0) / Wv;
    const vr = row.reduce((a, v) => a + (v - mean) ** 2, 0) / Wv;
    for (let d = 0; d < Wv; d++) normed[r * Wv + d] = (row[d] - mean) / Math.sqrt(vr + 1e-5) * g[d] + b[d];
  }
  const one = imageTowerReference(tiny, w, fr, 1, { config: shallow, weights: pw });
  const same = withTensor(pw, "image_encoder.transformer.resblocks.1.VPT_shallow", rng, normed);
  expectSame(
    "VPT_shallow = ln_pre(VPT)",
    imageTowerReference(tiny, w, fr, 1, { config: deep, weights: same }),
    one,
    1e-5,
  );
  expectDifferent(
    "random VPT_shallow",
    imageTowerReference(tiny, w, fr, 1, { config: deep, weights: pw }),
    one,
  );
});

Deno.test("vifiLogitsReference with prompts combines the prompted towers; without, it is unchanged", () => {
  const rng = new Rng(seed + 5);
  const w = initClipWeights(tiny, seed, { randomNorms: true });
  const fr = frames(rng, 2);
  const tokens = promptTokens(rng, 3);
  const prompts = { config: deep, weights: initPromptWeights(tiny, deep, seed) };
  const r = vifiLogitsReference(tiny, w, fr, 1, 2, tokens, 3, prompts);
  const t = textTowerReference(tiny, w, tokens, 3, prompts);
  const E = tiny.embedDim;
  for (let c = 0; c < 3; c++) {
    const row = t.subarray(c * E, (c + 1) * E);
    const n = Math.hypot(...row);
    expectSame(`text ${c}`, r.text.subarray(c * E, (c + 1) * E), row.map((v) => v / n));
  }
  const plain = vifiLogitsReference(tiny, w, fr, 1, 2, tokens, 3);
  expectDifferent("prompted logits", r.logits, plain.logits);
  expectSame(
    "no prompts = undefined prompts",
    vifiLogitsReference(tiny, w, fr, 1, 2, tokens, 3, undefined).logits,
    plain.logits,
    0,
  );
});

function expectThrow(what: string, f: () => unknown, ...parts: string[]): void {
  let msg = "";
  try {
    f();
  } catch (e) {
    msg = e instanceof Error ? e.message : String(e);
  }
  if (!msg) throw new Error(`${what}: did not throw`);
  for (const p of parts) {
    if (!msg.includes(p)) throw new Error(`${what}: message ${JSON.stringify(msg)} lacks ${p}`);
  }
}

Deno.test("bad prompt tensors and configs fail with messages that name them", () => {
  const rng = new Rng(seed + 6);
  const w = initClipWeights(tiny, seed);
  const tokens = promptTokens(rng, 1);
  const fr = frames(rng, 1);
  const pw = initPromptWeights(tiny, deep, seed);
  const text = (p: PromptConfig, weights: Weights, tk = tokens) => () =>
    textTowerReference(tiny, w, tk, 1, { config: p, weights });
  const image = (p: PromptConfig, weights: Weights) => () =>
    imageTowerReference(tiny, w, fr, 1, { config: p, weights });

  const wrong = new Map(pw).set("image_encoder.transformer.resblocks.1.VPT_shallow", {
    shape: [nV + 1, Wv],
    data: new Float32Array((nV + 1) * Wv),
  });
  for (const f of [text(deep, wrong), image(deep, wrong)]) {
    expectThrow(
      "wrong shape",
      f,
      "image_encoder.transformer.resblocks.1.VPT_shallow",
      `[${nV + 1}, ${Wv}]`,
      `[${nV}, ${Wv}]`,
    );
  }
  const wrongCtx = new Map(pw).set("prompt_learner.ctx", {
    shape: [Wt, nT],
    data: new Float32Array(nT * Wt),
  });
  expectThrow(
    "transposed ctx",
    text(deep, wrongCtx),
    "prompt_learner.ctx",
    `[${Wt}, ${nT}]`,
    `[${nT}, ${Wt}]`,
  );
  const short = new Map(pw).set("image_encoder.VPT", { shape: [nV, Wv], data: new Float32Array(5) });
  expectThrow("short data", image(deep, short), "image_encoder.VPT", "5 values");

  const missing = new Map(pw);
  missing.delete("text_encoder.transformer.resblocks.1.VPT_shallow");
  expectThrow(
    "missing",
    text(deep, missing),
    "missing prompt weight text_encoder.transformer.resblocks.1.VPT_shallow",
  );
  const stray = new Map(pw).set("module.prompt_learner.ctx", pw.get("prompt_learner.ctx")!);
  expectThrow("unexpected name", text(deep, stray), "unexpected prompt weight module.prompt_learner.ctx");

  expectThrow("textDepth 0", text({ ...deep, textDepth: 0 }, pw), "textDepth");
  expectThrow("depth > layers", image({ ...deep, visionDepth: 3 }, pw), "visionDepth", "2 vision layers");
  const huge = { ...deep, textCtx: CTX - 1 };
  expectThrow("1 + nT ≥ context", () => promptShapes(tiny, huge), "1 + textCtx", `${CTX}`);

  // EOT inside the context slots means the caller forgot the placeholders.
  const bare = new Int32Array(CTX);
  bare.set([SOT, 7, EOT]);
  expectThrow("no placeholders", text(deep, pw, bare), "EOT", "position 2");
});
