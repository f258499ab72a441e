// The fuzz run itself, in its own process so that tests/fuzz/fuzz_test.ts can read its peak memory:
// every file kind vifi reads, made valid by the project's own writers, then damaged (bit flips,
// random bytes over a span, a random file, a truncation) and fed to the reader a command calls.
// Each read must succeed or throw an Error whose message is one line naming the file; a RangeError,
// TypeError or any other built-in error escaping is a bug. Prints one JSON summary line on stdout.
// Usage: deno run -A tests/fuzz/fuzz_main.ts SEED [KIND...]
// With KIND names (e.g. mp4 avi) only those kinds run, the others still draw their cases so the damaged
// files stay the same. VIFI_FUZZ_DUMP=DIR copies every case that raised the peak memory by more than
// 64 MB, and every case that broke the contract, into DIR (its name on stderr) to replay it;
// VIFI_FUZZ_TRACE=1 names each case before it is read (the last one named is the one that hangs).

import { Rng } from "../../lib/random/rng.ts";
import { type WritableTensor, writeSafetensors } from "../../lib/io/safetensors.ts";
import { writeTorchStateDict } from "../../lib/io/torch.ts";
import { inspectWeights, loadWeights } from "../../lib/models/weights/load.ts";
import { CLIP_CONFIGS, initClipWeights } from "../../lib/models/config.ts";
import { readLabelCsv } from "../../lib/data/labels.ts";
import { loadDataset, readList } from "../../lib/data/lists.ts";
import { readTarIndex } from "../../lib/data/tar.ts";
import { encodeMp4 } from "../../lib/data/synthetic.ts";
import { prepareVideo } from "../../lib/data/prepare.ts";
import { encodeTestPattern } from "../../lib/video/test-pattern.ts";
import { yamlExperiment } from "../../lib/dsl/yaml.ts";

const seed = Number(Deno.args[0]);
const only = Deno.args.slice(1);
const dumpDir = Deno.env.get("VIFI_FUZZ_DUMP");
const trace = Deno.env.get("VIFI_FUZZ_TRACE") !== undefined;
const rng = new Rng(seed);
const dir = await Deno.makeTempDir({ prefix: "vifi-fuzz-" });

interface Kind {
  name: string;
  ext: string;
  seeds: Uint8Array[];
  /** damaged copies of each seed */
  cases: number;
  /** the reader a command calls, on a file path */
  read(path: string): Promise<unknown>;
}

const enc = new TextEncoder();

/** A ustar archive of the given members (the layout tests/data/tar_test.ts checks the reader against). */
function tar(members: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, data] of members) {
    const h = new Uint8Array(512);
    const put = (s: string, at: number) => h.set(enc.encode(s), at);
    put(name, 0);
    put("0000644\0", 100);
    put(data.length.toString(8).padStart(11, "0") + "\0", 124);
    put("0", 156);
    put("ustar\0", 257);
    put("00", 263);
    h.fill(32, 148, 156);
    put(h.reduce((a, b) => a + b, 0).toString(8).padStart(6, "0") + "\0 ", 148);
    const body = new Uint8Array(Math.ceil(data.length / 512) * 512);
    body.set(data);
    parts.push(h, body);
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function videoSeeds(): Promise<{ mp4: Uint8Array; avi: Uint8Array; webm: Uint8Array }> {
  const w = 32, h = 32, n = 6;
  const frames: Uint8Array[] = [];
  for (let t = 0; t < n; t++) {
    const f = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) f.set([(i * 7 + t * 40) & 255, (i >> 5) * 8, t * 30, 255], i * 4);
    frames.push(f);
  }
  const mp4 = await encodeMp4(frames, w, h, 6, { gop: 3 });
  const pattern = { width: 32, height: 32, rate: 6, seconds: 1 };
  const avi = await encodeTestPattern({ ...pattern, format: "avi", encode: ["-c:v", "mpeg4", "-g", "3"] });
  const webm = await encodeTestPattern({ ...pattern, format: "webm", encode: ["-c:v", "libvpx", "-g", "3"] });
  return { mp4, avi, webm };
}

function weightSeeds(): { safetensors: Uint8Array; pth: Uint8Array } {
  const tiny = { ...CLIP_CONFIGS.tiny };
  const w = initClipWeights(tiny, 5);
  const st = new Map<string, WritableTensor>();
  const pt = new Map<string, { dtype: "f16"; shape: number[]; data: Float32Array }>();
  for (const [name, t] of w) {
    st.set(name, { dtype: "F16", shape: t.shape, data: t.data });
    if (name !== "token_embedding.weight") {
      pt.set(`module.${name}`, { dtype: "f16", shape: t.shape, data: t.data });
    }
  }
  return {
    safetensors: writeSafetensors(st, { format: "pt" }),
    pth: writeTorchStateDict(pt, { wrapIn: "model", extra: { epoch: 2 } }),
  };
}

const YAML_BASE = `DATA:
    NUM_FRAMES: 8
    DATASET: hmdb51
MODEL:
    ARCH: ViT-B/16
`;

const YAML = `BASE: ['base.yaml']
DATA:
    ROOT: 'videos'
    TRAIN_FILE: 'datasets_splits/base2novel_splits/hmdb_splits/fs_base_s1_train.txt'
    VAL_FILE: 'datasets_splits/base2novel_splits/hmdb_splits/base_val.txt'
    NUM_FRAMES: 8
    NUM_CLASSES: 3
    LABEL_LIST: 'labels/hmdb_51_base_labels.csv'
TRAIN:
    BATCH_SIZE: 4 # BS 64
    EPOCHS: 11
    LR: 2.e-06
TRAINER:
  ViFi_CLIP:
    ZS_EVAL: False
    USE: "both"
SAVE_FREQ: 10
`;

const LABELS = 'id,name\r\n0,brush hair\r\n1,"cartwheel, twice"\r\n2,catch\r\n';
const LIST = "brush_hair/a.avi 0\ncartwheel/b.avi 1\r\ncatch/c.avi 2\n";

async function main(): Promise<void> {
  const { mp4, avi, webm } = await videoSeeds();
  const { safetensors, pth } = weightSeeds();
  const fixtures = new URL("../fixtures/torch/", import.meta.url);
  const torchFixtures: Uint8Array[] = [];
  for await (const e of Deno.readDir(fixtures)) {
    torchFixtures.push(await Deno.readFile(new URL(e.name, fixtures)));
  }
  await Deno.writeTextFile(`${dir}/base.yaml`, YAML_BASE);
  await Deno.writeTextFile(`${dir}/labels.csv`, LABELS);
  await Deno.writeTextFile(`${dir}/list.txt`, LIST);
  const video = (path: string) => prepareVideo({ path, mode: "test", frames: 2, size: 16, seed: 1 });
  const weights = async (path: string) => {
    await inspectWeights(path, { strict: false, headWidth: 16 });
    await loadWeights(path, { strict: false, headWidth: 16 });
  };
  const kinds: Kind[] = [
    { name: "mp4", ext: "mp4", seeds: [mp4], cases: 300, read: video },
    { name: "avi", ext: "avi", seeds: [avi], cases: 200, read: video },
    { name: "webm", ext: "webm", seeds: [webm], cases: 200, read: video },
    { name: "pth", ext: "pth", seeds: [pth], cases: 1000, read: weights },
    { name: "pt (fixtures)", ext: "pt", seeds: torchFixtures, cases: 200, read: weights },
    { name: "safetensors", ext: "safetensors", seeds: [safetensors], cases: 1000, read: weights },
    {
      name: "yaml",
      ext: "yaml",
      seeds: [enc.encode(YAML)],
      cases: 1000,
      read: (p) => yamlExperiment(p, { cwd: dir }),
    },
    { name: "label csv", ext: "csv", seeds: [enc.encode(LABELS)], cases: 600, read: readLabelCsv },
    { name: "list", ext: "txt", seeds: [enc.encode(LIST)], cases: 600, read: readList },
    {
      name: "split (list + labels)",
      ext: "txt",
      seeds: [enc.encode(LIST)],
      cases: 300,
      read: (p) => loadDataset(dir, p, `${dir}/labels.csv`),
    },
    {
      name: "tar",
      ext: "tar",
      seeds: [tar([["videos/a.mp4", mp4], ["videos/b.avi", avi.subarray(0, 700)]])],
      cases: 500,
      read: async (p) => readTarIndex(await Deno.readFile(p), p),
    },
  ];
  const failures: { kind: string; mutation: string; file: string; error: string }[] = [];
  let cases = 0;
  const started = performance.now();
  for (const kind of kinds) {
    const t0 = performance.now();
    // the undamaged seeds must read: otherwise the damage tells nothing
    for (const [i, s] of kind.seeds.entries()) {
      if (only.length && !only.includes(kind.name)) break;
      const file = `${dir}/seed-${i}.${kind.ext}`;
      await Deno.writeFile(file, s);
      try {
        await kind.read(file);
      } catch (e) {
        // torch fixtures that are damaged on purpose (truncated.pth, bad_opcode.pt) are allowed to fail
        if (kind.name !== "pt (fixtures)") {
          failures.push({ kind: kind.name, mutation: "seed", file, error: String(e) });
        }
      }
    }
    let refused = 0;
    for (let c = 0; c < kind.cases; c++) {
      const src = kind.seeds[rng.int(kind.seeds.length)];
      const { bytes, how } = mutate(src);
      const file = `${dir}/case-${c}.${kind.ext}`;
      if (only.length && !only.includes(kind.name)) continue;
      await Deno.writeFile(file, bytes);
      cases++;
      // a case that hangs is the last one traced
      if (trace) console.error(`${kind.name} case ${c} (${how}): ${file}`);
      const before = peakKb();
      const outcome = await check(() => kind.read(file), file);
      const grew = (peakKb() - before) / 1024;
      if (grew > 64) {
        console.error(`${kind.name} case ${c} (${how}) raised the peak by ${grew.toFixed(0)} MB`);
        if (dumpDir) await Deno.copyFile(file, `${dumpDir}/seed${seed}-${kind.name}-case${c}.${kind.ext}`);
      }
      if (outcome === "refused") refused++;
      else if (outcome) {
        failures.push({ kind: kind.name, mutation: how, file, error: outcome });
        if (dumpDir) {
          await Deno.copyFile(file, `${dumpDir}/seed${seed}-${kind.name}-case${c}-failed.${kind.ext}`);
        }
      }
    }
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    console.error(
      `${kind.name}: ${kind.cases} cases (${refused} refused in one line) in ${s} s, peak RSS so far ${
        (peakKb() / 1024).toFixed(0)
      } MB`,
    );
  }
  console.log(JSON.stringify({
    seed,
    cases,
    seconds: (performance.now() - started) / 1000,
    peakMb: peakKb() / 1024,
    failures,
  }));
}

/** This process's peak resident memory (VmHWM, Linux); NaN elsewhere, where the bound goes unchecked. */
function peakKb(): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Why a read's outcome breaks the contract; "refused" or undefined (read fine) when it holds. */
async function check(read: () => Promise<unknown>, file: string): Promise<string | undefined> {
  try {
    await read();
    return undefined;
  } catch (e) {
    if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
    const builtin = [RangeError, TypeError, SyntaxError, ReferenceError, EvalError, URIError];
    if (builtin.some((B) => e instanceof B)) return `${e.name}: ${e.message}\n${e.stack}`;
    if (/[\r\n\u2028\u2029]/.test(e.message)) return `message of several lines: ${e.message}`;
    if (!e.message.includes(file)) return `message does not name the file: ${e.message}`;
    return "refused";
  }
}

/** One damaged copy: bit flips (mostly near the start, where headers are), random bytes over a span, a random file, or a truncation. */
function mutate(src: Uint8Array): { bytes: Uint8Array; how: string } {
  const r = rng.next();
  const near = (n: number) => (rng.next() < 0.6 ? rng.int(Math.min(n, 512)) : rng.int(n));
  if (r < 0.4 && src.length > 0) {
    const out = src.slice();
    const flips = 1 + rng.int(8);
    const at: number[] = [];
    for (let i = 0; i < flips; i++) {
      const p = near(out.length);
      out[p] ^= 1 << rng.int(8);
      at.push(p);
    }
    return { bytes: out, how: `flip bits at ${at.join(",")}` };
  }
  if (r < 0.6 && src.length > 0) {
    const out = src.slice();
    const start = near(out.length);
    const len = 1 + rng.int(Math.min(64, out.length - start));
    for (let i = 0; i < len; i++) out[start + i] = rng.int(256);
    return { bytes: out, how: `random bytes [${start}, ${start + len})` };
  }
  if (r < 0.7) {
    const n = rng.int(2048);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = rng.int(256);
    // half of them keep the seed's first bytes, so the right reader is chosen and then meets garbage
    if (rng.next() < 0.5) out.set(src.subarray(0, Math.min(n, 16)));
    return { bytes: out, how: `random file of ${n} bytes` };
  }
  const n = rng.int(src.length + 1);
  return { bytes: src.slice(0, n), how: `truncated to ${n} of ${src.length} bytes` };
}

try {
  await main();
} finally {
  await Deno.remove(dir, { recursive: true });
}
