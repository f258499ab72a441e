// MP4 sample tables whose counts the file cannot back are refused before mp4box allocates for them. The
// fuzz test found the first kind (VIFI_SEED=1706333281, mp4 case 180): random bytes over a 3 KB file's
// stsz made it declare 201,881,164 samples of a constant size, and mp4box built an array slot per sample,
// 2.6 GB, before failing with "Invalid array length". Each crafted file here must be refused in one line
// naming the file and the box, with the peak memory of this process growing by less than 64 MB.

import { openVideo } from "../../lib/video/decode.ts";
import { mp4TableProblem } from "../../lib/video/mp4-tables.ts";
import { encodeTestPattern } from "../../lib/video/test-pattern.ts";
import { withEnv } from "../with_env.ts";

const MAX_PEAK_GROWTH_MB = 64;

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

/** This process's peak resident memory in MB (VmHWM): what a refusal must not raise much. */
function peakMb(): number {
  return Number(/VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]) / 1024;
}

/** Offset of the first box at `path` (e.g. moov/trak/mdia/minf/stbl/stsz), searched depth first. */
function findBox(b: Uint8Array, path: string[], start = 0, end = b.length): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let at = start; at + 8 <= end;) {
    const size = dv.getUint32(at);
    const type = String.fromCharCode(...b.subarray(at + 4, at + 8));
    if (type === path[0]) {
      if (path.length === 1) return at;
      const inner = findBox(b, path.slice(1), at + 8, at + size);
      if (inner >= 0) return inner;
    }
    if (size < 8) break;
    at += size;
  }
  return -1;
}

const STBL = ["moov", "trak", "mdia", "minf", "stbl"];

/** A copy of `src` with big-endian u32 values written at box-relative offsets of the box at `path`. */
function patched(src: Uint8Array, path: string[], writes: [number, number][]): Uint8Array {
  const b = src.slice();
  const at = findBox(b, path);
  check(at >= 0, `no ${path.join("/")} box in the fixture`);
  const dv = new DataView(b.buffer);
  for (const [o, v] of writes) dv.setUint32(at + o, v);
  return b;
}

async function refusedSmall(
  bytes: Uint8Array,
  file: string,
  box: string,
  why = "corrupt MP4: its",
): Promise<void> {
  const before = peakMb();
  let message: string | undefined;
  try {
    await openVideo(bytes, file);
  } catch (e) {
    message = (e as Error).message;
  }
  const grew = peakMb() - before;
  check(message !== undefined, `${file} was read`);
  check(grew < MAX_PEAK_GROWTH_MB, `peak memory grew ${grew.toFixed(0)} MB refusing ${file} (${message})`);
  check(message.startsWith(`${file}: ${why} ${box}`), message);
  check(!/[\r\n]/.test(message), `several lines: ${message}`);
}

const clip = await encodeTestPattern({
  width: 32,
  height: 32,
  rate: 6,
  seconds: 1,
  encode: ["-c:v", "libx264", "-g", "3"],
});

Deno.test("mp4 tables: the undamaged clip passes the check and opens", async () => {
  check(mp4TableProblem(clip, 500_000) === undefined, String(mp4TableProblem(clip, 500_000)));
  const info = await openVideo(clip, "clip.mp4");
  check(info.frameCount === 6, `frames ${info.frameCount}`);
});

Deno.test("mp4 tables: a constant-size stsz declaring 201,881,164 samples (the fuzz case) is refused", async () => {
  // stsz: header 8, version/flags 4, sample_size at 12, sample_count at 16 (the values of the fuzz case)
  const bytes = patched(clip, [...STBL, "stsz"], [[12, 0x4f4fb8ce], [16, 201_881_164]]);
  await refusedSmall(bytes, "constant.mp4", "stsz");
});

Deno.test("mp4 tables: a sample-size table, a chunk table and a time table longer than their boxes are refused", async () => {
  await refusedSmall(patched(clip, [...STBL, "stsz"], [[12, 0], [16, 150_000_000]]), "sizes.mp4", "stsz");
  await refusedSmall(patched(clip, [...STBL, "stco"], [[12, 150_000_000]]), "chunks.mp4", "stco");
  await refusedSmall(patched(clip, [...STBL, "stts"], [[12, 150_000_000]]), "times.mp4", "stts");
});

Deno.test("mp4 tables: a fragment's trun declaring 4 billion samples without per-sample fields is refused", async () => {
  const frag = await encodeTestPattern({
    width: 32,
    height: 32,
    rate: 6,
    seconds: 1,
    encode: ["-c:v", "libx264", "-g", "3", "-movflags", "frag_keyframe+empty_moov"],
  });
  check(mp4TableProblem(frag, 500_000) === undefined, String(mp4TableProblem(frag, 500_000)));
  // trun: flags at 8 (keep only the data offset, so no field per sample), sample_count at 12
  const bytes = patched(frag, ["moof", "traf", "trun"], [[8, 0x000001], [12, 0xffffffff]]);
  await refusedSmall(bytes, "fragment.mp4", "trun");
});

Deno.test("mp4 tables: a track of 1,000,000 one-byte samples in a 1 MB file is over VIFI_MAX_TRACK_SAMPLES", async () => {
  // the samples fit the file, but listing them took mp4box 664 MB: the per-track cap refuses it
  const big = new Uint8Array(clip.length + 1_000_000);
  big.set(clip);
  const bytes = patched(big, [...STBL, "stsz"], [[12, 1], [16, 1_000_000]]);
  await refusedSmall(bytes, "many.mp4", "trak 1", "its MP4");
  // the cap is what refuses: the 6-frame clip is refused under a cap of 5 and opens under 6
  await withEnv("VIFI_MAX_TRACK_SAMPLES", "5", async () => {
    let message = "";
    await openVideo(clip.slice(), "six.mp4").catch((e) => (message = e.message));
    check(message.includes("declares 6 samples") && message.includes("VIFI_MAX_TRACK_SAMPLES=N"), message);
  });
  await withEnv("VIFI_MAX_TRACK_SAMPLES", "6", () => openVideo(clip.slice(), "six.mp4"));
});
