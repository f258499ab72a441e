// Shared by tests/torch/*_test.ts: finding a Python that imports torch, running vifi_torch.py, and the raw
// tensor files (NAME.json index + NAME.bin little-endian values) both sides exchange.

import { findTorchPython } from "../../lib/cli/bench/torch-reference.ts";

const SCRIPT = new URL("./vifi_torch.py", import.meta.url).pathname;

export interface RawTensor {
  shape: number[];
  data: Float32Array | Int32Array;
}

export type RawTensors = Map<string, RawTensor>;

// the same search as `deno task bench --suite gpu`: $VIFI_TORCH_PYTHON, else Debian's /usr/bin/python3 (where
// python3-torch installs; a pyenv or venv python3 earlier on PATH usually lacks it), then python3
const found = await findTorchPython();
export const python: string | undefined = "python" in found ? found.python : undefined;

/** Deno.test's `ignore` for a torch suite, printing why once per file. */
export function skipWithoutTorch(suite: string): boolean {
  if (!python) {
    console.log(
      `${suite}: skipped, no python3 with torch found (tried $VIFI_TORCH_PYTHON, /usr/bin/python3, python3;` +
        " install python3-torch)",
    );
  }
  return !python;
}

/** Runs `vifi_torch.py <command> <dir>`; its stdout, or an error carrying its stderr's tail. */
export async function runTorch(command: string, dir: string): Promise<string> {
  if (!python) throw new Error("no python3 with torch");
  const out = await new Deno.Command(python, {
    args: [SCRIPT, command, dir],
    stdout: "piped",
    stderr: "piped",
    env: { OMP_NUM_THREADS: "2" },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) {
    throw new Error(
      `vifi_torch.py ${command} failed:\n${text(out.stderr).split("\n").slice(-15).join("\n")}`,
    );
  }
  return text(out.stdout);
}

export function readRaw(dir: string, name: string): RawTensors {
  const index = JSON.parse(Deno.readTextFileSync(`${dir}/${name}.json`)) as {
    name: string;
    shape: number[];
    dtype: "f32" | "i32";
    offset: number;
  }[];
  const blob = Deno.readFileSync(`${dir}/${name}.bin`);
  const out: RawTensors = new Map();
  for (const e of index) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const bytes = blob.slice(e.offset, e.offset + 4 * n).buffer;
    out.set(e.name, {
      shape: e.shape,
      data: e.dtype === "f32" ? new Float32Array(bytes) : new Int32Array(bytes),
    });
  }
  return out;
}

export function writeRaw(dir: string, name: string, tensors: RawTensors): void {
  const index: unknown[] = [];
  let offset = 0;
  for (const [k, t] of tensors) {
    index.push({ name: k, shape: t.shape, dtype: t.data instanceof Int32Array ? "i32" : "f32", offset });
    offset += 4 * t.data.length;
  }
  const blob = new Uint8Array(offset);
  offset = 0;
  for (const t of tensors.values()) {
    blob.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
    offset += t.data.byteLength;
  }
  Deno.writeTextFileSync(`${dir}/${name}.json`, JSON.stringify(index));
  Deno.writeFileSync(`${dir}/${name}.bin`, blob);
}

/** Same shape and bit-identical values (NaN equal to NaN, −0 distinct from 0). */
export function assertSameTensor(
  got: { shape: number[]; data: ArrayLike<number> } | undefined,
  want: RawTensor,
  what: string,
): void {
  if (!got) throw new Error(`${what}: missing`);
  if (JSON.stringify(got.shape) !== JSON.stringify(want.shape)) {
    throw new Error(`${what}: shape [${got.shape}], torch has [${want.shape}]`);
  }
  for (let i = 0; i < want.data.length; i++) {
    if (!Object.is(got.data[i], want.data[i])) {
      throw new Error(`${what}[${i}]: ${got.data[i]}, torch has ${want.data[i]}`);
    }
  }
}

/** ‖got − want‖ / ‖want‖ in float64. */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`relErr: lengths ${got.length} and ${want.length}`);
  let d = 0, n = 0;
  for (let i = 0; i < want.length; i++) {
    d += (got[i] - want[i]) ** 2;
    n += want[i] ** 2;
  }
  return Math.sqrt(d) / Math.sqrt(n || 1);
}
