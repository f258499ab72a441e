// The page's YUV→RGB conversion against ffmpeg.wasm's (the server's decoder) on random 4:2:0 frames: every
// colour matrix swscale has a table for, limited and full range, sizes the conversion claims to match
// (even sides, including 2x2 and a one-block-high 66x2), byte for byte. Then the
// sizes it does not claim: they must be ones ffmpeg really converts otherwise, or the claim is too narrow.
// And the colour a stream declares, read from its SPS as ffmpeg reads it.

import { assert, assertEquals } from "../data/assert.ts";
import { runFfmpeg } from "../../lib/video/ffmpeg-wasm.ts";
import { swscaleExact, swscaleMatrix, yuv420ToRgb, type YuvMatrix } from "../../lib/browser/yuv.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import { avcColour } from "../../lib/browser/avc-colour.ts";
import { avcDescription } from "../../lib/browser/video.ts";
import { mp4Probe } from "../../lib/video/mp4-probe.ts";
import { taggedVideos } from "./videos.ts";

const seed = sessionSeed();

function randomFrame(rng: Rng, w: number, h: number): Uint8Array {
  const cw = Math.ceil(w / 2), ch = Math.ceil(h / 2);
  const b = new Uint8Array(w * h + 2 * cw * ch);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rng.next() * 256);
  return b;
}

async function ffmpegRgb(yuv: Uint8Array, w: number, h: number, space: string[]): Promise<Uint8Array> {
  return await runFfmpeg(yuv, "frame.yuv", (i, o) => [
    "-v",
    "error",
    "-f",
    "rawvideo",
    "-pix_fmt",
    "yuv420p",
    ...space,
    "-s",
    `${w}x${h}`,
    "-i",
    i,
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    o,
  ]);
}

function ours(yuv: Uint8Array, w: number, h: number, m: YuvMatrix, full: boolean): Uint8Array {
  const cw = Math.ceil(w / 2), ch = Math.ceil(h / 2);
  return yuv420ToRgb(
    {
      y: yuv.subarray(0, w * h),
      u: yuv.subarray(w * h, w * h + cw * ch),
      v: yuv.subarray(w * h + cw * ch),
      yStride: w,
      uStride: cw,
      vStride: cw,
    },
    w,
    h,
    m,
    full,
  );
}

function firstDifference(a: Uint8Array, b: Uint8Array, w: number): string {
  const i = a.findIndex((x, k) => x !== b[k]);
  if (i < 0) return "none";
  const px = Math.floor(i / 3);
  return `pixel (${px % w}, ${Math.floor(px / w)}) channel ${i % 3}: ${a[i]} vs ffmpeg ${b[i]}`;
}

// ffmpeg's -colorspace names and the H.273 codes a stream's VUI carries
const SPACES: [string | null, number][] = [
  [null, 2],
  ["bt709", 1],
  ["bt470bg", 5],
  ["smpte170m", 6],
  ["fcc", 4],
  ["smpte240m", 7],
  ["bt2020nc", 9],
];

Deno.test(`yuv420ToRgb equals ffmpeg.wasm's rgb24 byte for byte (seed ${seed})`, async () => {
  const rng = new Rng(seed);
  for (const [w, h] of [[64, 48], [38, 22], [2, 2], [66, 2], [12, 6]]) {
    assert(swscaleExact(w, h), `${w}x${h} is claimed`);
    const yuv = randomFrame(rng, w, h);
    for (const [ff, wc] of SPACES) {
      for (const full of [false, true]) {
        const space = [...(ff ? ["-colorspace", ff] : []), ...(full ? ["-color_range", "pc"] : [])];
        const want = await ffmpegRgb(yuv, w, h, space);
        const m = swscaleMatrix(wc);
        assert(m !== undefined, `matrix ${wc}`);
        const got = ours(yuv, w, h, m, full);
        assertEquals(got.length, want.length);
        const diff = firstDifference(got, want, w);
        assert(diff === "none", `${w}x${h} ${ff ?? "unspecified"} ${full ? "full" : "limited"}: ${diff}`);
      }
    }
  }
});

Deno.test("sizes left to ffmpeg are ones its arithmetic differs on; unknown matrices are refused", async () => {
  const rng = new Rng(seed + 1);
  for (const [w, h] of [[65, 48], [64, 47], [63, 4]]) {
    assert(!swscaleExact(w, h), `${w}x${h} is not claimed`);
    const yuv = randomFrame(rng, w, h);
    const want = await ffmpegRgb(yuv, w, h, []);
    const got = ours(yuv, w, h, 6, false);
    assert(firstDifference(got, want, w) !== "none", `${w}x${h} matches after all: the claim is too narrow`);
  }
  assertEquals(swscaleMatrix(0), undefined); // RGB
  assertEquals(swscaleMatrix(8), undefined); // YCgCo
});

Deno.test("avcColour reads the SPS: nothing said is unspecified/limited; a BT.709 full-range tag is read", async () => {
  const { plain, tagged } = await taggedVideos();
  const colour = (b: Uint8Array) => {
    const d = avcDescription(mp4Probe(b, "x.mp4").header.stsd);
    assert(d, "an avcC box");
    return avcColour(d);
  };
  assertEquals(colour(plain), { matrix: 2, fullRange: false });
  assertEquals(colour(tagged), { matrix: 1, fullRange: true });
  assertEquals(
    avcColour(new Uint8Array([1, 66, 0, 10, 255, 225, 0, 1, 0x68])),
    "the avcC record's first parameter set is no SPS",
  );
  assert(
    String(avcColour(new Uint8Array([1, 66, 0, 10, 255, 225, 0, 2, 0x67, 66]))).startsWith(
      "the SPS cannot be read",
    ),
  );
});
