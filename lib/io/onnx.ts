// A small ONNX writer: just enough protobuf to describe graphs of standard ops with float
// initializers, so onnxruntime can run the same computation as an independent reference.

type Field = [number, "varint", number | bigint] | [number, "bytes", Uint8Array] | [
  number,
  "msg",
  Uint8Array,
];

function varint(v: number | bigint): number[] {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}

function message(fields: Field[]): Uint8Array {
  const parts: number[][] = [];
  const blobs: Uint8Array[] = [];
  for (const [num, kind, value] of fields) {
    if (kind === "varint") {
      parts.push([...varint((num << 3) | 0), ...varint(value)]);
      blobs.push(new Uint8Array(0));
    } else {
      const bytes = value as Uint8Array;
      parts.push([...varint((num << 3) | 2), ...varint(bytes.length)]);
      blobs.push(bytes);
    }
  }
  const total = parts.reduce((n, p, i) => n + p.length + blobs[i].length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  parts.forEach((p, i) => {
    out.set(p, o);
    o += p.length;
    out.set(blobs[i], o);
    o += blobs[i].length;
  });
  return out;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** ONNX TensorProto.DataType codes for the types vifi exports. */
export const OnnxType = { float: 1, int32: 6, int64: 7, float16: 10 } as const;
export type OnnxTypeName = keyof typeof OnnxType;

export interface OnnxAttribute {
  name: string;
  value: number | number[] | string;
  /** ints/int are the default for whole numbers; set float for real-valued attributes */
  float?: boolean;
}

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: OnnxAttribute[];
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  type: OnnxTypeName;
  data: Float32Array | Int32Array | BigInt64Array | Uint16Array;
}

export interface OnnxValue {
  name: string;
  type: OnnxTypeName;
  /** numbers, or strings for symbolic dimensions */
  dims: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  initializers: OnnxInitializer[];
  opset?: number;
}

function attribute(a: OnnxAttribute): Uint8Array {
  // AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7)
  const f: Field[] = [[1, "bytes", utf8(a.name)]];
  if (typeof a.value === "string") {
    f.push([4, "bytes", utf8(a.value)], [20, "varint", 3]);
  } else if (Array.isArray(a.value)) {
    if (a.float) {
      const b = new Float32Array(a.value);
      f.push([7, "bytes", new Uint8Array(b.buffer)], [20, "varint", 6]);
    } else {
      f.push([8, "bytes", new Uint8Array(a.value.flatMap((v) => varint(v)))], [20, "varint", 7]);
    }
  } else if (a.float || !Number.isInteger(a.value)) {
    const b = new Uint8Array(new Float32Array([a.value]).buffer);
    // fixed32 wire type (5) for `f`
    return concat(message(f), new Uint8Array([(2 << 3) | 5, ...b]), message([[20, "varint", 1]]));
  } else {
    f.push([3, "varint", a.value], [20, "varint", 2]);
  }
  return message(f);
}

function concat(...xs: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(xs.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of xs) {
    out.set(x, o);
    o += x.length;
  }
  return out;
}

function valueInfo(v: OnnxValue): Uint8Array {
  const dims = v.dims.map((d) =>
    message(typeof d === "number" ? [[1, "varint", d]] : [[2, "bytes", utf8(d)]])
  );
  const shape = message(dims.map((d) => [1, "msg", d] as Field));
  const tensorType = message([[1, "varint", OnnxType[v.type]], [2, "msg", shape]]);
  return message([[1, "bytes", utf8(v.name)], [2, "msg", message([[1, "msg", tensorType]])]]);
}

function initializer(t: OnnxInitializer): Uint8Array {
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return message([
    ...t.dims.map((d) => [1, "varint", d] as Field),
    [2, "varint", OnnxType[t.type]],
    [8, "bytes", utf8(t.name)],
    [9, "bytes", raw.slice()],
  ]);
}

function node(n: OnnxNode, i: number): Uint8Array {
  return message([
    ...n.inputs.map((s) => [1, "bytes", utf8(s)] as Field),
    ...n.outputs.map((s) => [2, "bytes", utf8(s)] as Field),
    [3, "bytes", utf8(n.name ?? `${n.op}_${i}`)],
    [4, "bytes", utf8(n.op)],
    ...(n.attributes ?? []).map((a) => [5, "msg", attribute(a)] as Field),
  ]);
}

/** Serialise a graph as an ONNX model (IR 8, default opset 17). */
export function encodeOnnx(g: OnnxGraph): Uint8Array {
  const graph = message([
    ...g.nodes.map((n, i) => [1, "msg", node(n, i)] as Field),
    [2, "bytes", utf8(g.name)],
    ...g.initializers.map((t) => [5, "msg", initializer(t)] as Field),
    ...g.inputs.map((v) => [11, "msg", valueInfo(v)] as Field),
    ...g.outputs.map((v) => [12, "msg", valueInfo(v)] as Field),
  ]);
  return message([
    [1, "varint", 8],
    [2, "bytes", utf8("vifi")],
    [7, "msg", graph],
    [8, "msg", message([[1, "bytes", utf8("")], [2, "varint", g.opset ?? 17]])],
  ]);
}
