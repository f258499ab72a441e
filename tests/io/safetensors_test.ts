import {
  float32ToHalfBits,
  readSafetensors,
  type SafetensorsTensor,
  type WritableTensor,
  writeSafetensors,
} from "../../lib/io/safetensors.ts";

const enc = new TextEncoder();

/** A file assembled by hand, so reader tests do not depend on our writer. */
function rawFile(header: unknown, data: Uint8Array, pad = true): Uint8Array {
  let json = enc.encode(typeof header === "string" ? header : JSON.stringify(header));
  if (pad && json.length % 8) {
    const p = new Uint8Array(json.length + 8 - (json.length % 8)).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength) as ArrayBuffer);
}

function sameBytes(a: Uint8Array, b: Uint8Array, what: string) {
  if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
    throw new Error(`${what}: bytes differ\n got ${[...a]}\nwant ${[...b]}`);
  }
}

function throwsWith(fn: () => unknown, ...parts: string[]): string {
  try {
    fn();
  } catch (e) {
    const msg = (e as Error).message;
    for (const p of parts) if (!msg.includes(p)) throw new Error(`error lacks ${JSON.stringify(p)}: ${msg}`);
    return msg;
  }
  throw new Error(`no error (wanted one mentioning ${parts.join(", ")})`);
}

Deno.test("writer output is byte-identical to the reference implementation's serialisation", () => {
  const six = new Float32Array([0, 1, 2, 3, 4, 5]);
  // the header lengths (64 unpadded, 72 with 7 spaces) are those of the reference writer's own tests
  const a = writeSafetensors(new Map([["attn.0", { dtype: "F32", shape: [1, 2, 3], data: six }]]));
  const headerA = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  const wantA = new Uint8Array([64, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(headerA), ...bytesOf(six)]);
  sameBytes(a, wantA, "attn.0");
  const b = writeSafetensors(new Map([["attn0", { dtype: "F32", shape: [1, 1, 2, 3], data: six }]]));
  const headerB = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ';
  sameBytes(b, new Uint8Array([72, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(headerB), ...bytesOf(six)]), "attn0");
  sameBytes(
    writeSafetensors(new Map()),
    new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, ...enc.encode("{}      ")]),
    "empty",
  );
  sameBytes(
    writeSafetensors(new Map(), { framework: "pt" }),
    new Uint8Array([40, 0, 0, 0, 0, 0, 0, 0, ...enc.encode('{"__metadata__":{"framework":"pt"}}     ')]),
    "metadata only",
  );
});

Deno.test("round trip: F32/F16/I64/I32 with metadata, ordered by dtype alignment then name", () => {
  const tensors = new Map<string, WritableTensor>([
    ["b.f32", { dtype: "F32", shape: [2, 3], data: new Float32Array([1, -2, 3.25, 0, 1e-30, -7]) }],
    ["a.f32", { dtype: "F32", shape: [], data: new Float32Array([4.6052]) }],
    ["half", { dtype: "F16", shape: [3], data: new Float32Array([0.5, -65504, 1 / 3]) }],
    ["ids", { dtype: "I64", shape: [1, 2], data: new BigInt64Array([7n, -(2n ** 40n)]) }],
    ["count", { dtype: "I32", shape: [1], data: new Int32Array([-3]) }],
  ]);
  const bytes = writeSafetensors(tensors, { format: "pt", note: "ünïcode" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  if (n % 8) throw new Error(`header length ${n} is not a multiple of 8`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const order = Object.keys(header);
  const want = ["__metadata__", "ids", "a.f32", "b.f32", "count", "half"];
  if (order.join() !== want.join()) throw new Error(`header order ${order}, want ${want}`);
  for (const name of want.slice(1)) {
    const [begin] = header[name].data_offsets;
    const size = { I64: 8, F32: 4, I32: 4, F16: 2 }[header[name].dtype as string]!;
    if (begin % size) throw new Error(`${name} starts at ${begin}, not aligned to ${size}`);
  }
  const { tensors: back, metadata } = readSafetensors(bytes, "round.safetensors");
  if (metadata.format !== "pt" || metadata.note !== "ünïcode") throw new Error(JSON.stringify(metadata));
  for (const [name, t] of tensors) {
    const got = back.get(name)!;
    if (got.dtype !== t.dtype || got.shape.join() !== t.shape.join()) {
      throw new Error(`${name}: ${got.dtype} ${got.shape}`);
    }
    const expect = t.dtype === "F16" ? Float32Array.from(new Float16Array(t.data as Float32Array)) : t.data;
    if (got.data.constructor !== expect.constructor) throw new Error(`${name}: ${got.data.constructor.name}`);
    for (let i = 0; i < expect.length; i++) {
      if (got.data[i] !== expect[i]) throw new Error(`${name}[${i}]: ${got.data[i]} vs ${expect[i]}`);
    }
  }
});

Deno.test("F16 and BF16 widen to float32 exactly, for every bit pattern", () => {
  const bits = new Uint16Array(65536).map((_, i) => i);
  const data = bytesOf(bits);
  const file = rawFile(
    {
      h: { dtype: "F16", shape: [65536], data_offsets: [0, data.length] },
      b: { dtype: "BF16", shape: [65536], data_offsets: [data.length, 2 * data.length] },
    },
    new Uint8Array([...data, ...data]),
  );
  const t = readSafetensors(file, "all.safetensors").tensors;
  const half = t.get("h")!.data as Float32Array;
  const ref = new Float16Array(bits.buffer);
  for (let i = 0; i < 65536; i++) {
    const same = Number.isNaN(ref[i]) ? Number.isNaN(half[i]) : Object.is(half[i], ref[i]);
    if (!same) throw new Error(`F16 0x${i.toString(16)}: ${half[i]} vs ${ref[i]}`);
  }
  const bf = new Uint32Array((t.get("b")!.data as Float32Array).buffer);
  for (let i = 0; i < 65536; i++) {
    if (bf[i] !== i << 16 >>> 0) {
      throw new Error(`BF16 0x${i.toString(16)} widened to 0x${bf[i].toString(16)}`);
    }
  }
});

Deno.test("F16 writing rounds to nearest even like a float→half cast", () => {
  const values = new Float32Array([
    0,
    -0,
    1,
    1 + 2 ** -11, // tie → even (1)
    1 + 3 * 2 ** -11, // tie → even (up)
    65504,
    65519.99,
    65520, // overflow → inf
    2 ** -24,
    2 ** -25, // tie with zero → 0
    2 ** -25 * 1.0001,
    3 * 2 ** -25, // subnormal tie → even
    6.1e-5,
    Infinity,
    -Infinity,
    NaN,
    1e-30,
    ...Array.from({ length: 2000 }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 12) - 8)),
  ]);
  const got = float32ToHalfBits(values);
  const want = new Uint16Array(new Float16Array(values).buffer);
  for (let i = 0; i < values.length; i++) {
    const nan = Number.isNaN(values[i]);
    if (nan ? (got[i] & 0x7c00) !== 0x7c00 || !(got[i] & 0x3ff) : got[i] !== want[i]) {
      throw new Error(`${values[i]}: 0x${got[i].toString(16)} vs 0x${want[i].toString(16)}`);
    }
  }
});

Deno.test("F64, U8 and BOOL read; unaligned data offsets are fine", () => {
  const f64 = bytesOf(new Float64Array([0.1, -3]));
  // an unpadded 3-byte-odd header puts the data at an unaligned file offset
  const file = rawFile(
    {
      x: { dtype: "F64", shape: [2], data_offsets: [1, 17] },
      u: { dtype: "U8", shape: [1], data_offsets: [0, 1] },
      m: { dtype: "BOOL", shape: [2], data_offsets: [17, 19] },
    },
    new Uint8Array([200, ...f64, 1, 0]),
    false,
  );
  const t = readSafetensors(file, "mixed.safetensors").tensors as Map<string, SafetensorsTensor>;
  const x = t.get("x")!.data as Float32Array;
  if (x[0] !== Math.fround(0.1) || x[1] !== -3) throw new Error(`F64: ${x}`);
  if ((t.get("u")!.data as Uint8Array)[0] !== 200) throw new Error("U8");
  if ((t.get("m")!.data as Uint8Array).join() !== "1,0") throw new Error("BOOL");
});

Deno.test("damaged files are refused with the file and the tensor named", () => {
  const f = "broken.safetensors";
  throwsWith(() => readSafetensors(new Uint8Array(5), f), f, "shorter than");
  const big = new Uint8Array(16);
  new DataView(big.buffer).setBigUint64(0, 1000n, true);
  throwsWith(() => readSafetensors(big, f), f, "runs past the end");
  new DataView(big.buffer).setBigUint64(0, 2n ** 60n, true);
  throwsWith(() => readSafetensors(big, f), f, "exceeds");
  throwsWith(() => readSafetensors(rawFile("{not json", new Uint8Array()), f), f, "not JSON");
  throwsWith(() => readSafetensors(rawFile("[1,2]", new Uint8Array()), f), f, "not a JSON object");
  const data = new Uint8Array(16);
  throwsWith(
    () =>
      readSafetensors(
        rawFile({
          a: { dtype: "F32", shape: [3], data_offsets: [0, 12] },
          b: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
        }, data),
        f,
      ),
    f,
    "overlap",
    '"a"',
    '"b"',
  );
  throwsWith(
    () => readSafetensors(rawFile({ w: { dtype: "F32", shape: [3], data_offsets: [0, 16] } }, data), f),
    f,
    '"w"',
    "needs 12",
  );
  throwsWith(
    () => readSafetensors(rawFile({ w: { dtype: "F32", shape: [8], data_offsets: [0, 32] } }, data), f),
    f,
    '"w"',
    "past the 16 data bytes",
  );
  throwsWith(
    () => readSafetensors(rawFile({ w: { dtype: "F8_E4M3", shape: [16], data_offsets: [0, 16] } }, data), f),
    '"w"',
    "not supported",
  );
  throwsWith(
    () => readSafetensors(rawFile({ w: { dtype: "Q4", shape: [1], data_offsets: [0, 1] } }, data), f),
    "unknown dtype Q4",
  );
  throwsWith(
    () => readSafetensors(rawFile({ w: { dtype: "U8", shape: [-1], data_offsets: [0, 1] } }, data), f),
    '"w"',
    "shape",
  );
  throwsWith(
    () =>
      writeSafetensors(
        new Map(
          [["w", { dtype: "F32", shape: [2], data: new Float32Array(3) }]] as [string, WritableTensor][],
        ),
      ),
    '"w"',
    "3 values",
  );
  throwsWith(
    () =>
      writeSafetensors(
        new Map(
          [["w", { dtype: "I32", shape: [1], data: new Float32Array(1) }]] as [string, WritableTensor][],
        ),
      ),
    "Int32Array",
  );
});
