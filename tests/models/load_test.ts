// loadModel from each kind of weight file (and from nothing), the tokenizer a model's vocabulary
// implies, and class prompt rows: the same ids the tokenizer's own packing gives, the prompt variant's
// placeholders in the slots the learned vectors overwrite, and over-long prompts refused by class.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { exportPth } from "../../lib/models/weights/export-pth.ts";
import { clipConfig, initClipWeights, initPromptWeights } from "../../lib/models/config.ts";
import { classTokens, loadModel, resolvePrecision, tokenizerFor } from "../../lib/models/load.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { ByteTokenizer, PromptTooLongError } from "../../lib/text/tokenizer.ts";
import { type CheckpointMeta, saveCheckpoint } from "../../lib/train/checkpoint.ts";

const tiny = clipConfig("tiny");

function expect(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

async function expectReject(p: Promise<unknown>, re: RegExp, what: string) {
  try {
    await p;
  } catch (e) {
    expect(re.test((e as Error).message), `${what}: message "${(e as Error).message}" does not match ${re}`);
    return;
  }
  throw new Error(`${what}: did not throw`);
}

async function sameWeights(a: ViFiClip, b: ViFiClip, what: string) {
  const wa = await a.clip.weights(), wb = await b.clip.weights();
  for (const [name, t] of wa) {
    const u = wb.get(name)!.data;
    expect(t.data.every((v, i) => v === u[i]), `${what}: ${name} differs`);
  }
}

Deno.test("loadModel: random init from arch, vifi checkpoint, ViFi .pth (+ CLIP token table), precision", async () => {
  const rt = await getRuntime();
  const dir = await Deno.makeTempDir({ prefix: "vifi-load-" });
  try {
    const random = await loadModel(rt, { arch: "tiny", variant: "frozen", seed: 3 });
    expect(random.source === null && random.config.name === "tiny", "random init");
    const direct = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, 3), "frozen");
    await sameWeights(random.model, direct, "random init vs initClipWeights(seed 3)");
    await expectReject(loadModel(rt, { variant: "frozen" }), /weights file or an architecture/, "nothing");

    await saveCheckpoint(`${dir}/ck.safetensors`, direct, { epoch: 2 });
    const ck = await loadModel(rt, { weights: `${dir}/ck.safetensors`, variant: "both" });
    expect(
      ck.source?.format === "vifi-checkpoint" && (ck.checkpoint as CheckpointMeta | undefined)?.epoch === 2,
      JSON.stringify(ck.source),
    );
    expect(ck.model.trainable().length > 0 && ck.config.vision.heads === 2, "variant or inferred heads");
    await sameWeights(ck.model, direct, "checkpoint");

    const prompts = { textCtx: 2, visionCtx: 3, textDepth: 2, visionDepth: 2 };
    direct.clip.addPrompts(prompts, initPromptWeights(tiny, prompts, 4));
    await exportPth(direct, `${dir}/vifi.pth`, { naming: "vifi" });
    await exportPth(direct, `${dir}/clip.pt`, { naming: "openai" });
    await expectReject(
      loadModel(rt, { weights: `${dir}/vifi.pth`, variant: "frozen", headWidth: 16 }),
      new RegExp(`${dir}/vifi\\.pth is a ViFi-CLIP checkpoint.*clipWeights \\(--clip-weights`),
      "ViFi .pth alone",
    );
    await expectReject(
      loadModel(rt, { weights: `${dir}/missing.pt`, variant: "frozen" }),
      new RegExp(`${dir}/missing\\.pt`),
      "missing file",
    );
    const vifi = await loadModel(rt, {
      weights: `${dir}/vifi.pth`,
      clipWeights: `${dir}/clip.pt`,
      variant: "frozen",
      headWidth: 16,
    });
    expect(vifi.source?.naming === "vifi", `naming ${vifi.source?.naming}`);
    expect(JSON.stringify(vifi.model.clip.prompts) === JSON.stringify(prompts), "prompts not loaded");
    expect(vifi.model.trainable().length === 0, "a frozen model has trainable (prompt) parameters");
    await sameWeights(vifi.model, direct, "ViFi .pth");
    const noPrompt = await loadModel(rt, {
      weights: `${dir}/vifi.pth`,
      clipWeights: `${dir}/clip.pt`,
      variant: "frozen",
      headWidth: 16,
      prompt: false,
    });
    expect(noPrompt.model.clip.prompts === undefined, "prompt: false still loaded prompts");

    expect(resolvePrecision(rt, "auto") === (rt.gpu.features.f16 ? "f16" : "f32"), "auto precision");
    expect(resolvePrecision(rt, undefined) === "f32", "default precision");
    const auto = await loadModel(rt, { arch: "tiny", variant: "frozen", precision: "auto" });
    expect(auto.model.clip.precision === resolvePrecision(rt, "auto"), "auto precision not applied");
    for (const m of [random, ck, vifi, noPrompt, auto]) m.model.dispose();
    direct.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tokenizerFor: byte-level for a non-CLIP vocabulary; the CLIP tokenizer refused there", async () => {
  const tok = await tokenizerFor({ config: tiny });
  expect(tok instanceof ByteTokenizer && tok.vocabSize === tiny.text.vocab, "tiny tokenizer");
  await expectReject(tokenizerFor({ config: tiny, tokenizer: "clip" }), /512 rows/, "clip on tiny");
  await expectReject(
    tokenizerFor({ config: clipConfig("ViT-B/16"), vocab: "/nonexistent/bpe.txt.gz" }),
    /\/nonexistent\/bpe\.txt\.gz/,
    "missing vocabulary",
  );
});

Deno.test("classTokens: = the tokenizer's packing; prompt placeholders after SOT; too long refused by class", () => {
  const tok = new ByteTokenizer(tiny.text.vocab);
  const ctx = tiny.text.context;
  const names = ["red", "Blue_Ball"];
  const rows = classTokens(tok, names, "a {name}.", ctx);
  const want = tok.tokenize(names.map((n) => `a ${n}.`), ctx);
  expect(rows.length === want.length && rows.every((v, i) => v === want[i]), `${rows} vs ${want}`);

  const n = 3;
  const p = classTokens(tok, names, "{name}.", ctx, n);
  const x = tok.encode("X")[0];
  const row1 = Array.from(p.subarray(ctx, 2 * ctx));
  const body = tok.encode("Blue Ball.");
  const expected = [tok.sot, x, x, x, ...body, tok.eot];
  expect(
    JSON.stringify(row1.slice(0, expected.length)) === JSON.stringify(expected) &&
      row1.slice(expected.length).every((v) => v === 0),
    `placeholder row ${row1}`,
  );

  let err: unknown;
  try {
    classTokens(tok, ["ok", "a very long class name"], "{name}", ctx);
  } catch (e) {
    err = e;
  }
  expect(err instanceof PromptTooLongError, `not a PromptTooLongError: ${err}`);
  expect(
    /class 1 "a very long class name".*context of 16/.test((err as Error).message),
    (err as Error).message,
  );
  let noName: unknown;
  try {
    classTokens(tok, names, "a photo", ctx);
  } catch (e) {
    noName = e;
  }
  expect(/no \{name\}/.test(String(noName)), `template without {name}: ${noName}`);
});
