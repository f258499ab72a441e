// `weights inspect` reads headers only: a safetensors file and a torch zip whose optimizer state is a
// 1 GiB hole (sparse on disk, so the test costs no disk) are inspected in a child process whose peak
// resident memory (VmHWM) must stay under a bound far below the file size. Reading the whole file,
// as inspect did, puts the peak above the file size.

import { type WritableTensor, writeSafetensors } from "../../lib/io/safetensors.ts";
import { type WritableTensor as TorchWritable, writeTorchStateDict } from "../../lib/io/torch.ts";
import { readZip } from "../../lib/io/zip.ts";
import { CLIP_CONFIGS, initClipWeights } from "../../lib/models/config.ts";

const HOLE = 1 << 30;
/** Deno's own footprint is about 100 MB; the hole is 1 GiB, so reading it cannot stay under this. */
const PEAK_BOUND_MB = 400;

const tiny = CLIP_CONFIGS.tiny;
const weights = initClipWeights(tiny, 3);
const hasProc = (() => {
  try {
    return /VmHWM/.test(Deno.readTextFileSync("/proc/self/status"));
  } catch {
    return false;
  }
})();

function tensors(): Map<string, WritableTensor> {
  const out = new Map<string, WritableTensor>();
  for (const [name, t] of weights) out.set(name, { dtype: "F32", shape: t.shape, data: t.data });
  return out;
}

/** A safetensors file of tiny CLIP plus an `optimizer.m.big` tensor whose bytes are a hole. */
async function sparseSafetensors(path: string): Promise<void> {
  const small = writeSafetensors(tensors());
  const n = Number(new DataView(small.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(small.subarray(8, 8 + n)));
  const data = small.subarray(8 + n);
  header["optimizer.m.big"] = {
    dtype: "F32",
    shape: [HOLE / 4],
    data_offsets: [data.length, data.length + HOLE],
  };
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(new TextEncoder().encode(json), 8);
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    await f.write(head);
    for (let at = 0; at < data.length;) at += await f.write(data.subarray(at));
  } finally {
    f.close();
  }
  await Deno.truncate(path, head.length + data.length + HOLE);
}

function patchU32(b: Uint8Array, at: number, add: number): void {
  const v = new DataView(b.buffer, b.byteOffset);
  v.setUint32(at, v.getUint32(at, true) + add, true);
}

/**
 * A ViFi-style torch checkpoint (state dict under "model") with `optimizer.m.big` in it, whose stored
 * record is then grown by a 1 GiB hole: the sizes in both headers and the offsets after it are moved.
 */
async function sparseTorchZip(path: string): Promise<void> {
  const torchTensors = new Map<string, TorchWritable>();
  for (const [name, t] of weights) torchTensors.set(name, { dtype: "f32", shape: t.shape, data: t.data });
  torchTensors.set("optimizer.m.big", { dtype: "f32", shape: [4], data: new Float32Array(4) });
  const zipBytes = writeTorchStateDict(torchTensors, { wrapIn: "model", extra: { epoch: 3 } });
  const zip = readZip(zipBytes, path);
  const big = zip.entries.find((e) => e.name === `archive/data/${torchTensors.size - 1}`)!;
  const cut = big.dataOffset + big.compressedSize;
  const head = zipBytes.slice(0, cut);
  const tail = zipBytes.slice(cut);
  patchU32(head, big.headerOffset + 18, HOLE);
  patchU32(head, big.headerOffset + 22, HOLE);
  // central directory (in the tail): the grown entry's sizes, and every later local header's offset
  const dv = new DataView(tail.buffer);
  const eocd = tail.length - 22;
  const cdOffset = dv.getUint32(eocd + 16, true) - cut;
  const count = dv.getUint16(eocd + 10, true);
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    const nameLen = dv.getUint16(p + 28, true), extra = dv.getUint16(p + 30, true);
    const name = new TextDecoder().decode(tail.subarray(p + 46, p + 46 + nameLen));
    if (name === big.name) {
      patchU32(tail, p + 20, HOLE);
      patchU32(tail, p + 24, HOLE);
    }
    if (dv.getUint32(p + 42, true) > big.headerOffset) patchU32(tail, p + 42, HOLE);
    p += 46 + nameLen + extra + dv.getUint16(p + 32, true);
  }
  patchU32(tail, eocd + 16, HOLE);
  await Deno.writeFile(path, head);
  await Deno.truncate(path, head.length + HOLE);
  const f = await Deno.open(path, { append: true });
  try {
    for (let at = 0; at < tail.length;) at += await f.write(tail.subarray(at));
  } finally {
    f.close();
  }
}

/** Runs `weights inspect FILE --json` in a child that reports its own peak RSS. */
async function inspectPeak(
  file: string,
): Promise<{ rc: number; json: Record<string, unknown>; peakMb: number }> {
  const cli = new URL("../../lib/cli/weights.ts", import.meta.url).href;
  const code = `import { main } from ${JSON.stringify(cli)};
const rc = await main(["inspect", ${JSON.stringify(file)}, "--json", "--head-width", "16"]);
const hwm = /VmHWM:\\s+(\\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"))[1];
console.error("VmHWM " + hwm);
Deno.exit(rc);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  const m = /VmHWM (\d+)/.exec(stderr);
  if (!m) throw new Error(`no VmHWM from the child (exit ${out.code}): ${stderr}`);
  return {
    rc: out.code,
    json: JSON.parse(new TextDecoder().decode(out.stdout)),
    peakMb: Number(m[1]) / 1024,
  };
}

for (const [kind, make] of [["safetensors", sparseSafetensors], ["torch zip", sparseTorchZip]] as const) {
  Deno.test({
    name: `weights inspect reads headers only: ${kind} with a 1 GiB hole peaks under ${PEAK_BOUND_MB} MB`,
    ignore: !hasProc,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "vifi-sparse-" });
      try {
        const file = `${dir}/big.${kind === "safetensors" ? "safetensors" : "pth"}`;
        await make(file);
        const size = (await Deno.stat(file)).size;
        if (size < HOLE) throw new Error(`the test file is only ${size} bytes`);
        const { rc, json, peakMb } = await inspectPeak(file);
        console.log(
          `${kind}: ${(size / 2 ** 30).toFixed(2)} GiB file, inspect peak RSS ${peakMb.toFixed(0)} MB`,
        );
        if (rc !== 0) throw new Error(`inspect failed: ${JSON.stringify(json)}`);
        // the answer is still the whole story: every tensor counted, the big one dropped as optimizer state
        const report = json.report as { dropped: string[] };
        if (json.tensors !== weights.size + 1 || json.mapped !== weights.size) {
          throw new Error(`tensors ${json.tensors}, mapped ${json.mapped}`);
        }
        if (!report.dropped.some((n) => n.endsWith("optimizer.m.big"))) {
          throw new Error("big tensor not listed");
        }
        let params = 0;
        for (const t of weights.values()) params += t.data.length;
        if (json.params !== params) throw new Error(`params ${json.params}, expected ${params}`);
        if (peakMb > PEAK_BOUND_MB) {
          throw new Error(`inspect peaked at ${peakMb.toFixed(0)} MB on a sparse ${size}-byte file`);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
