// Fixtures come from tests/fixtures/make_torch_fixtures.py (stdlib pickle + zipfile with stand-in torch
// classes); every expected value below is restated from that generator, not read back from our reader.

import {
  floatToHalfBits,
  readTorch,
  readTorchAsync,
  stateDict,
  tensorLayout,
  type TorchTensor,
  type WritableTensor,
  writeTorchStateDict,
} from "../../lib/io/torch.ts";
import { isPyObject, pickle, PyFloat, PyGlobal, PyTuple, toPlain, unpickle } from "../../lib/io/pickle.ts";
import { readZip, writeZip } from "../../lib/io/zip.ts";

const DIR = new URL("../fixtures/torch/", import.meta.url);
const GENERATOR = new URL("../fixtures/make_torch_fixtures.py", import.meta.url);

function load(name: string): Uint8Array {
  return Deno.readFileSync(new URL(name, DIR));
}

function fail(msg: string): never {
  throw new Error(msg);
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) fail(msg);
}

function eq(got: unknown, want: unknown, what: string): void {
  const s = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
  if (s(got) !== s(want)) fail(`${what}: got ${s(got)}, want ${s(want)}`);
}

/** Exact float comparison: same values, -0 distinct from 0, NaN equal to NaN. */
function sameFloats(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  eq(got.length, want.length, `${what} length`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], Math.fround(want[i]))) {
      fail(`${what}[${i}]: got ${got[i]}, want ${Math.fround(want[i])}`);
    }
  }
}

function tensor(tensors: Map<string, TorchTensor>, key: string): TorchTensor {
  return tensors.get(key) ?? fail(`missing tensor ${key}; have ${[...tensors.keys()].join(", ")}`);
}

function range(n: number, f: (i: number) => number): number[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

function throwsWith(fn: () => unknown, parts: string[]): void {
  try {
    fn();
  } catch (e) {
    const msg = (e as Error).message;
    for (const p of parts) assert(msg.includes(p), `error ${JSON.stringify(msg)} lacks ${JSON.stringify(p)}`);
    return;
  }
  fail(`expected an error mentioning ${parts.join(", ")}`);
}

Deno.test("ViFi-style checkpoint: model tensors, optimizer, scalars, yacs config", () => {
  const f = readTorch(load("vifi_tiny.pth"), "vifi_tiny.pth");
  eq(f.format, "torch-zip", "format");
  const root = f.root as Record<string, unknown>;
  eq(
    Object.keys(root),
    ["model", "optimizer", "lr_scheduler", "max_accuracy", "epoch", "config"],
    "top keys",
  );
  eq(root.epoch, 7, "epoch");
  eq(root.max_accuracy, 81.25, "max_accuracy");
  eq([...f.tensors.keys()], [
    "model.module.image_encoder.conv1.weight",
    "model.module.image_encoder.class_embedding",
    "model.module.image_encoder.positional_embedding",
    "model.module.logit_scale",
    "model.module.prompt_learner.complete_text_embeddings",
    "optimizer.state.0.exp_avg",
  ], "state-dict keys");
  const conv = tensor(f.tensors, "model.module.image_encoder.conv1.weight");
  eq([conv.dtype, conv.shape], ["f32", [4, 3, 2, 2]], "conv1 dtype/shape");
  sameFloats(conv.data as Float32Array, range(48, (i) => i * 0.5 - 3), "conv1");
  sameFloats(tensor(f.tensors, "model.module.image_encoder.class_embedding").data as Float32Array, [
    0.25,
    -0.25,
    1.5,
    -1.5,
  ], "class_embedding");
  sameFloats(
    tensor(f.tensors, "model.module.image_encoder.positional_embedding").data as Float32Array,
    range(20, (i) => i / 8),
    "positional_embedding",
  );
  const scale = tensor(f.tensors, "model.module.logit_scale");
  eq(scale.shape, [], "logit_scale shape");
  sameFloats(scale.data as Float32Array, [4.605170249938965], "logit_scale");
  const emb = tensor(f.tensors, "model.module.prompt_learner.complete_text_embeddings");
  eq([emb.dtype, emb.shape], ["f16", [2, 3, 4]], "fp16 embeddings");
  sameFloats(emb.data as Float32Array, range(24, (i) => (i - 12) / 4), "fp16 embeddings");
  sameFloats(
    tensor(f.tensors, "optimizer.state.0.exp_avg").data as Float32Array,
    [0.001, -0.002, 0.5, 0],
    "exp_avg",
  );

  // The tree and the map share tensor objects; state_dict's _metadata (pickled with BUILD) is kept off the keys.
  const model = root.model as Record<string, unknown>;
  assert(model["module.logit_scale"] === scale, "root and tensors share objects");
  eq(Object.keys(model).length, 5, "model keys (no _metadata)");
  eq(
    (model as { _metadata?: unknown })._metadata,
    { "": { version: 1 }, module: { version: 1 } },
    "_metadata",
  );
  eq((root.optimizer as { param_groups: unknown }).param_groups, [
    { lr: 2.2e-05, weight_decay: 0.001, params: [0] },
  ], "param_groups");

  const cfg = root.config;
  assert(isPyObject(cfg), "config is an inert object");
  eq(cfg.__class__, "yacs.config.CfgNode", "config class");
  eq(toPlain(cfg), {
    DATA: { NUM_FRAMES: 8, NUM_CLASSES: 400, LABEL_LIST: "labels/kinetics_400_labels.csv" },
    MODEL: { ARCH: "ViT-B/16" },
    TRAIN: { LR: 2.2e-05, EPOCHS: 10, OPT_LEVEL: "O1" },
    TRAINER: { ViFi_CLIP: { USE: "both", PROMPT_MODEL: false, N_CTX_TEXT: 0 } },
  }, "config contents");
  eq((cfg.state as Record<string, unknown>).__new_allowed__, false, "CfgNode attributes kept as state");

  const sd = stateDict(f.root, "model");
  eq(
    [...sd.keys()],
    [...f.tensors.keys()].slice(0, 5).map((k) => k.slice("model.".length)),
    "stateDict(root, model)",
  );
  assert(sd.get("module.logit_scale") === scale, "stateDict shares tensors");
});

Deno.test("fp16, bf16 and integer dtypes convert exactly", () => {
  const f = readTorch(load("dtypes.pt"), "dtypes.pt");
  const half = tensor(f.tensors, "half");
  eq(half.dtype, "f16", "half dtype");
  const h = half.data as Float32Array;
  sameFloats(
    h,
    [0, -0, 1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity, NaN, 0.333251953125],
    "half",
  );
  eq(new Uint32Array(h.buffer, h.byteOffset, h.length)[9], 0x7fc00000, "fp16 quiet NaN bits");
  const bf = tensor(f.tensors, "bf16");
  eq([bf.dtype, bf.shape], ["bf16", [2, 3]], "bf16 dtype/shape");
  const bfBits = new Uint32Array((bf.data as Float32Array).slice().buffer);
  eq([...bfBits], [0x3f80, 0xc040, 0x7f80, 0x0001, 0x4049, 0xff7f].map((b) => (b << 16) >>> 0), "bf16 bits");
  sameFloats(bf.data as Float32Array, [1, -3, Infinity, 2 ** -133, 3.140625, -3.3895313892515355e38], "bf16");
  const long = tensor(f.tensors, "long");
  eq(long.dtype, "i64", "long dtype");
  eq([...(long.data as BigInt64Array)], [0n, -1n, 2n ** 53n + 1n, -(2n ** 62n)], "long");
  eq([...(tensor(f.tensors, "int").data as Int32Array)], [1, -2, 2147483647], "int");
  sameFloats(
    tensor(f.tensors, "double").data as Float32Array,
    [0.1, Infinity, -2.5],
    "double narrowed to f32",
  );
  eq([...(tensor(f.tensors, "byte").data as Uint8Array)], [0, 1, 255, 128], "byte");
  const b = tensor(f.tensors, "bool");
  eq([b.dtype, [...(b.data as Uint8Array)]], ["bool", [1, 0, 1]], "bool");
  const s = tensor(f.tensors, "scalar_long");
  eq([s.shape, [...(s.data as BigInt64Array)]], [[], [77n]], "0-d long");
  eq(
    (f.root as Record<string, unknown>).np_acc,
    0.8125,
    "numpy float64 scalar (protocol-2 bytes via _codecs)",
  );
});

Deno.test("strides, storage offsets and shared storages are materialised contiguous", () => {
  const f = readTorch(load("strided.pt"), "strided.pt");
  const get = (k: string) => tensor(f.tensors, k);
  sameFloats(get("base").data as Float32Array, range(12, (i) => i), "base");
  eq(get("transposed").shape, [4, 3], "transposed shape");
  sameFloats(get("transposed").data as Float32Array, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11], "transposed");
  sameFloats(get("window").data as Float32Array, [5, 6, 9, 10], "offset window");
  sameFloats(get("column").data as Float32Array, [2, 6, 10], "strided column");
  sameFloats(get("expanded").data as Float32Array, [1, 2, 3, 1, 2, 3], "stride-0 expand");
  sameFloats(get("half_t").data as Float32Array, [0, 3, 1, 4, 2, 5], "fp16 transposed");
  eq([get("empty").shape, get("empty").data.length], [[0, 4], 0], "empty");
  eq(tensorLayout(get("transposed")), { storageKey: "0", offset: 0, stride: [1, 4] }, "layout");
  eq(tensorLayout(get("window"))?.storageKey, tensorLayout(get("base"))?.storageKey, "shared storage");
});

Deno.test("protocol 5 pickle: frames, memoize, stack globals, long ints, bytes", () => {
  const f = readTorch(load("proto5.pt"), "proto5.pt");
  const root = f.root as Record<string, unknown>;
  sameFloats(tensor(f.tensors, "w").data as Float32Array, [1, 2, 3, 4], "w");
  eq((root.name as string).length, 300, "long string");
  eq(root.big, 2n ** 70n, "2**70 as bigint");
  eq(root.neg, -(2 ** 40), "negative LONG1");
  eq(root.np_acc, 0.8125, "numpy scalar");
  eq([...(root.blob as Uint8Array)], [0, 1, 255], "bytes");
  eq(root.pair, [1.5, null, true], "tuple");
});

Deno.test("big-endian archives are byte-swapped", () => {
  const f = readTorch(load("bigendian.pt"), "bigendian.pt");
  sameFloats(tensor(f.tensors, "f").data as Float32Array, [1.5, -2, 3.25], "f32");
  sameFloats(tensor(f.tensors, "h").data as Float32Array, [0.5, -65504], "f16");
  eq([...(tensor(f.tensors, "q").data as BigInt64Array)], [1n, -(2n ** 40n)], "i64");
});

Deno.test("deflated archives need the async reader", async () => {
  throwsWith(() => readTorch(load("deflated.pt"), "deflated.pt"), [
    "deflated.pt",
    "deflate",
    "readTorchAsync",
  ]);
  const f = await readTorchAsync(load("deflated.pt"), "deflated.pt");
  sameFloats(tensor(f.tensors, "w").data as Float32Array, new Array(64).fill(0.5), "inflated tensor");
});

function blockNames(prefix: string): string[] {
  return [
    "attn.in_proj_weight",
    "attn.in_proj_bias",
    "attn.out_proj.weight",
    "attn.out_proj.bias",
    "ln_1.weight",
    "ln_1.bias",
    "mlp.c_fc.weight",
    "mlp.c_fc.bias",
    "mlp.c_proj.weight",
    "mlp.c_proj.bias",
    "ln_2.weight",
    "ln_2.bias",
  ].map((n) => `${prefix}transformer.resblocks.0.${n}`);
}

/** make_torch_fixtures.script_value */
function scriptValue(index: number, n: number): number[] {
  return range(n, (i) => (((index * 7 + i) % 61) - 30) / 16);
}

Deno.test("TorchScript archive: state dict recovered from the module tree", () => {
  const f = readTorch(load("torchscript_tiny.pt"), "torchscript_tiny.pt");
  eq(f.format, "torchscript", "format");
  const want = [
    "visual.class_embedding",
    "visual.positional_embedding",
    "visual.proj",
    "visual.conv1.weight",
    "visual.ln_pre.weight",
    "visual.ln_pre.bias",
    ...blockNames("visual."),
    "visual.ln_post.weight",
    "visual.ln_post.bias",
    ...blockNames(""),
    "token_embedding.weight",
    "positional_embedding",
    "ln_final.weight",
    "ln_final.bias",
    "text_projection",
    "logit_scale",
    "input_resolution",
    "context_length",
    "vocab_size",
  ];
  eq([...f.tensors.keys()].sort(), [...want].sort(), "state-dict names (attn_mask is not a buffer)");
  const v = (k: string) => tensor(f.tensors, k).data as Float32Array;
  sameFloats(v("visual.class_embedding"), scriptValue(0, 4), "class_embedding");
  sameFloats(v("visual.conv1.weight"), scriptValue(3, 48), "conv1");
  sameFloats(v("visual.transformer.resblocks.0.attn.in_proj_weight"), scriptValue(6, 48), "in_proj_weight");
  eq(tensor(f.tensors, "visual.conv1.weight").shape, [4, 3, 2, 2], "conv1 shape");
  eq(tensor(f.tensors, "visual.conv1.weight").dtype, "f16", "fp16 weights");
  sameFloats(v("logit_scale"), [4.60546875], "logit_scale");
  for (const [k, n] of [["input_resolution", 32n], ["context_length", 3n], ["vocab_size", 10n]] as const) {
    const t = tensor(f.tensors, k);
    eq([t.dtype, t.shape, [...(t.data as BigInt64Array)]], ["i64", [], [n]], k);
  }
  const root = f.root;
  assert(isPyObject(root), "root module object");
  eq(root.__class__, "__torch__.tiny_clip.CLIP", "root class");
  const visual = (root.state as Record<string, unknown>).visual;
  assert(isPyObject(visual), "visual module");
  const vs = visual.state as Record<string, unknown>;
  eq(vs.kernel, [2, 2], "build_intlist attribute");
  const conv1 = vs.conv1 as { state: Record<string, unknown> };
  assert(conv1.state.weight === f.tensors.get("visual.conv1.weight"), "tree shares tensors");
  eq([...stateDict(root, "visual").keys()].length, 20, "stateDict of a submodule");
  const constants = f.constants as TorchTensor[];
  sameFloats(constants[0].data as Float32Array, [1, -1], "constants.pkl tensor from constants/0");
});

Deno.test("damaged files fail with the file name and the problem", () => {
  throwsWith(() => readTorch(load("truncated.pth"), "truncated.pth"), [
    "truncated.pth",
    "truncated",
    "central directory not found",
  ]);
  throwsWith(() => readTorch(load("bad_opcode.pt"), "bad_opcode.pt"), [
    "bad_opcode.pt",
    "invalid opcode 0xff at offset 2",
  ]);
  throwsWith(() => readTorch(load("short_storage.pt"), "short_storage.pt"), [
    "short_storage.pt",
    "tensor weight",
    "needs 64 bytes",
    "only 40 are available",
  ]);
  throwsWith(() => readTorch(load("vifi_tiny.pth").slice(0, 100), "cut.pth"), ["cut.pth", "truncated"]);
  throwsWith(() => readTorch(new Uint8Array([0x80, 2, 0x8a, 0x0a]), "old.pt"), ["old.pt", "legacy"]);
});

/** Bytes from hex pairs ("8b 09 00") and already-made byte runs, in order. */
function bytesOf(...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "string") out.push(...p.trim().split(/\s+/).map((h) => parseInt(h, 16)));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

Deno.test("pickle opcodes beyond the fixtures; unknown classes stay data", () => {
  const enc = new TextEncoder();
  const bytes = bytesOf(
    "80 04 28", // PROTO 4, MARK
    "8d 02 00 00 00 00 00 00 00",
    enc.encode("hi"), // BINUNICODE8
    "8b 09 00 00 00 00 00 00 00 00 00 00 00 80", // LONG4 (length 9): -2^71
    "42 02 00 00 00 07 08", // BINBYTES
    "72 10 27 00 00", // LONG_BINPUT 10000
    "6a 10 27 00 00", // LONG_BINGET 10000
    "63",
    enc.encode("argparse\nNamespace\n"),
    "29 81", // GLOBAL, EMPTY_TUPLE, NEWOBJ
    "7d 8c 01 61 4b 05 73 62", // {a: 5} BUILD
    "4a fe ff ff ff", // BININT -2
    "47 3f f8 00 00 00 00 00 00", // BINFLOAT 1.5
    "74 2e", // TUPLE, STOP
  );
  const v = unpickle(bytes, { fileName: "t.pkl" }) as unknown[];
  eq(v.slice(0, 2), ["hi", -(2n ** 71n)], "BINUNICODE8, LONG4");
  eq([...(v[2] as Uint8Array)], [7, 8], "BINBYTES");
  assert(v[3] === v[2], "LONG_BINGET returns the memoised object");
  eq(v[4], { __class__: "argparse.Namespace", args: [], state: { a: 5 } }, "unknown class");
  eq(v.slice(5), [-2, 1.5], "BININT, BINFLOAT");
  throwsWith(() => unpickle(Uint8Array.from([0x80, 2, 0x4a, 1]), { fileName: "short.pkl" }), [
    "short.pkl",
    "truncated",
  ]);
});

Deno.test("pickle: a persistent object memoised once and fetched back is loaded once and shared", () => {
  // TorchScript memoises a storage once and refers back with BINGET; both tensors must share it.
  const enc = new TextEncoder();
  const ts = bytesOf(
    "80 02 28 58 07 00 00 00",
    enc.encode("storage"),
    "63",
    enc.encode("torch\nFloatStorage\n"),
    "58 01 00 00 00 30 58 03 00 00 00",
    enc.encode("cpu"),
    "4b 04 74 51 71 00 68 00 86 2e", // BINPERSID, BINPUT 0, BINGET 0, TUPLE2, STOP
  );
  let loads = 0;
  const pair = unpickle(ts, { fileName: "ts.pkl", persistentLoad: () => ({ n: ++loads }) }) as unknown[];
  eq(loads, 1, "persistent id loaded once");
  assert(pair[0] === pair[1], "memoised persistent object shared");
});

Deno.test("pickle writer round-trips through the reader", () => {
  const value = {
    a: [1, -1, 300, 70000, -(2 ** 31), 2 ** 40, 2n ** 80n, -(2n ** 80n)],
    t: new PyTuple(["x", null, true, false]),
    f: [0.5, new PyFloat(2), -0, NaN, Infinity],
    nested: new Map<string, unknown>([["k", { deep: "é✓" }]]),
    g: new PyGlobal("torch", "float16"),
    bytes: new Uint8Array([0, 200, 255]),
  };
  const back = unpickle(pickle(value), { fileName: "rt.pkl" }) as Record<string, unknown>;
  eq(back.a, [1, -1, 300, 70000, -(2 ** 31), 2 ** 40, 2n ** 80n, -(2n ** 80n)], "ints");
  eq(back.t, ["x", null, true, false], "tuple");
  const fl = back.f as number[];
  assert(
    fl[0] === 0.5 && fl[1] === 2 && Object.is(fl[2], -0) && Number.isNaN(fl[3]) && fl[4] === Infinity,
    "floats",
  );
  eq(back.nested, { k: { deep: "é✓" } }, "OrderedDict");
  eq((back.g as PyGlobal).fullName, "torch.float16", "global");
  eq([...(back.bytes as Uint8Array)], [0, 200, 255], "bytes via _codecs.encode");
});

Deno.test("fp32 → fp16 rounding matches IEEE round-to-nearest-even", () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [1 / 3, 0x3555],
    [65504, 0x7bff],
    [65519, 0x7bff],
    [65520, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // tie → even (0)
    [1.5 * 2 ** -24, 0x0002], // tie → even (2)
    [3 * 2 ** -26, 0x0001],
    [-0, 0x8000],
    [1 + 2 ** -11, 0x3c00], // tie → even
    [1 + 3 * 2 ** -11, 0x3c02], // tie → even (up)
    [2 ** -14, 0x0400],
  ];
  for (const [x, bits] of cases) eq(floatToHalfBits(x), bits, `half(${x})`);
  assert((floatToHalfBits(NaN) & 0x7c00) === 0x7c00 && (floatToHalfBits(NaN) & 0x3ff) !== 0, "NaN stays NaN");
});

function sampleState(): Map<string, WritableTensor> {
  return new Map<string, WritableTensor>([
    ["module.image_encoder.conv1.weight", {
      dtype: "f32",
      shape: [2, 3, 2, 2],
      data: Float32Array.from(range(24, (i) => i / 7 - 1)),
    }],
    ["module.logit_scale", { dtype: "f32", shape: [], data: Float32Array.of(4.605170249938965) }],
    ["module.text_encoder.positional_embedding", {
      dtype: "f16",
      shape: [3, 2],
      data: Float32Array.of(0.5, -2, 65504, 2 ** -24, -0, 1 / 1024),
    }],
    ["module.prompt_learner.ctx", { dtype: "f32", shape: [0, 4], data: new Float32Array(0) }],
  ]);
}

Deno.test("writeTorchStateDict → readTorch gives identical tensors; zip layout is torch's", () => {
  const state = sampleState();
  const bytes = writeTorchStateDict(state, {
    wrapIn: "model",
    extra: { epoch: 3, max_accuracy: 55.5, arch: "ViT-B/16" },
  });
  const f = readTorch(bytes, "written.pth");
  const root = f.root as Record<string, unknown>;
  eq([root.epoch, root.max_accuracy, root.arch], [3, 55.5, "ViT-B/16"], "extra entries");
  eq([...f.tensors.keys()], [...state.keys()].map((k) => `model.${k}`), "keys");
  for (const [k, t] of state) {
    const got = tensor(f.tensors, `model.${k}`);
    eq([got.dtype, got.shape], [t.dtype, t.shape], k);
    sameFloats(got.data as Float32Array, t.data, k);
  }
  const zip = readZip(bytes, "written.pth");
  eq(zip.entries.map((e) => e.name), [
    "archive/data.pkl",
    "archive/byteorder",
    "archive/data/0",
    "archive/data/1",
    "archive/data/2",
    "archive/data/3",
    "archive/version",
  ], "records");
  for (const e of zip.entries) {
    assert(e.dataOffset % 64 === 0, `${e.name} data at ${e.dataOffset} not 64-aligned`);
  }
  const bare = readTorch(writeTorchStateDict(state), "bare.pt");
  eq([...bare.tensors.keys()], [...state.keys()], "unwrapped state dict");
});

Deno.test("zip64 fields are written and read", () => {
  const files: [string, Uint8Array][] = [["a/x", new Uint8Array([1, 2, 3])], [
    "a/y",
    new Uint8Array(100).fill(9),
  ]];
  const zip = readZip(writeZip(files, { forceZip64: true }), "z64.zip");
  eq(zip.entries.map((e) => [e.name, e.size]), [["a/x", 3], ["a/y", 100]], "entries");
  eq([...zip.read("a/x")], [1, 2, 3], "data");
  eq(zip.entries.map((e) => e.dataOffset % 64), [0, 0], "alignment");
});

async function python(args: string[], stdin?: Uint8Array): Promise<string | undefined> {
  let proc;
  try {
    proc = new Deno.Command("python3", {
      args,
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    })
      .spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  if (stdin) {
    const w = proc.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await proc.output();
  if (!out.success) fail(`python3 ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

Deno.test("python's pickle + zipfile with the fake torch read our files back", async () => {
  const state = sampleState();
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/written.pth`;
    await Deno.writeFile(
      path,
      writeTorchStateDict(state, { wrapIn: "model", extra: { epoch: 3, max_accuracy: 55.5 } }),
    );
    const out = await python([decodeURIComponent(GENERATOR.pathname), "--read", path]);
    if (out === undefined) {
      console.log("skipped: python3 not found");
      return;
    }
    const report = JSON.parse(out);
    eq(report.problems, [], "CRC and alignment problems");
    eq([report.version, report.byteorder], ["3\n", "little"], "version, byteorder");
    eq(report.scalars, { "model.__type__": "OrderedDict", epoch: 3, max_accuracy: 55.5 }, "scalars");
    for (const [k, t] of state) {
      const got = report.tensors[`model.${k}`];
      assert(got, `python did not find model.${k}`);
      eq([got.storage, got.shape, got.offset, got.numel], [
        t.dtype === "f16" ? "HalfStorage" : "FloatStorage",
        t.shape,
        0,
        t.data.length,
      ], k);
      eq(got.f32bits, [...new Uint32Array(Float32Array.from(t.data).buffer)], `${k} values`);
    }
    // zip64 variant: Python's zipfile must accept our zip64 records too.
    const z64 = writeZip([["a/b", new Uint8Array([5, 6])]], { forceZip64: true });
    const check = await python([
      "-c",
      [
        "import io, sys, zipfile",
        "z = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))",
        "assert z.testzip() is None",
        "print(list(z.read('a/b')))",
      ].join("\n"),
    ], z64);
    eq(check?.trim(), "[5, 6]", "python zipfile on zip64");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
