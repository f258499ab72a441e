// A container that lists more frames than decode (here: the tail samples' bytes wiped, the sample table
// untouched): sampling falls back to the count that decodes instead of failing or returning garbage.

import { assert, assertEquals } from "../data/assert.ts";
import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { prepareVideo, transformFor } from "../../lib/data/prepare.ts";
import { countDecodableFrames, decodeFrames, openVideo } from "../../lib/video/decode.ts";
import { sampleForMode } from "../../lib/video/sampling.ts";
import { Rng } from "../../lib/random/rng.ts";

/** Byte ranges of every sample, from stsz / stsc / stco (one track, as the synthetic files have). */
function sampleRanges(mp4: Uint8Array): [number, number][] {
  const v = new DataView(mp4.buffer, mp4.byteOffset, mp4.byteLength);
  const box = (name: string) => {
    for (let i = 0; i + 4 < mp4.length; i++) {
      if (String.fromCharCode(...mp4.subarray(i, i + 4)) === name) return i + 4; // after the type
    }
    throw new Error(`no ${name} box`);
  };
  const stsz = box("stsz");
  const n = v.getUint32(stsz + 8);
  const sizes = Array.from({ length: n }, (_, k) => v.getUint32(stsz + 12 + 4 * k));
  const stco = box("stco");
  const chunks = Array.from({ length: v.getUint32(stco + 4) }, (_, k) => v.getUint32(stco + 8 + 4 * k));
  const stsc = box("stsc");
  const runs = Array.from({ length: v.getUint32(stsc + 4) }, (_, k) => ({
    first: v.getUint32(stsc + 8 + 12 * k) - 1,
    per: v.getUint32(stsc + 12 + 12 * k),
  }));
  const out: [number, number][] = [];
  let s = 0;
  chunks.forEach((offset, c) => {
    const per = runs.filter((r) => r.first <= c).pop()!.per;
    for (let k = 0; k < per && s < n; k++, s++) {
      out.push([offset, offset + sizes[s]]);
      offset += sizes[s];
    }
  });
  return out;
}

Deno.test("a container that lists frames that do not decode: sampling falls back to the decodable count", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-frame-count-" });
  try {
    const data = await generateSynthetic(dir, {
      seed: 5,
      clipsPerClass: 1,
      frames: 16,
      size: 32,
      colours: ["red"],
      shapes: ["square"],
      motions: ["left"],
    });
    const path = `${dir}/${data.clips[0].path}`;
    const good = await Deno.readFile(path);
    const ranges = sampleRanges(good);
    assertEquals(ranges.length, 16);
    const bad = good.slice();
    const wiped = 5;
    for (const [a, b] of ranges.slice(-wiped)) bad.fill(0, a, b);
    await Deno.writeFile(`${dir}/bad.mp4`, bad);

    assertEquals((await openVideo(bad, "bad.mp4")).frameCount, 16, "the header still lists 16");
    assertEquals(await countDecodableFrames(bad, "bad.mp4"), 16 - wiped);
    assertEquals(await countDecodableFrames(good, "good.mp4"), 16);

    const job = { path: `${dir}/bad.mp4`, mode: "test" as const, frames: 8, size: 32, seed: 1 };
    const p = await prepareVideo(job);
    assertEquals(p.frameCount, 16 - wiped);
    const want = Array.from(sampleForMode("test", 16 - wiped, 8, 1, new Rng(1)));
    assertEquals(p.indices, want);
    assert(Math.max(...p.indices) < 16 - wiped, `indices ${p.indices}`);
    // the frames are the undamaged clip's frames at those indices, through the same test transform
    const info = await openVideo(good, "good.mp4");
    const ref = transformFor(job, await decodeFrames(good, "good.mp4", want, info), new Rng(1));
    assertEquals(p.shape, ref.shape);
    let worst = 0;
    for (let i = 0; i < ref.data.length; i++) worst = Math.max(worst, Math.abs(p.data[i] - ref.data[i]));
    assertEquals(worst, 0);

    // training sampling too: draws stay inside the decodable frames
    const t = await prepareVideo({ ...job, mode: "train" });
    assert(Math.max(...t.indices) < 16 - wiped, `train indices ${t.indices}`);
    // an intact file keeps the container's count
    assertEquals((await prepareVideo({ ...job, path })).frameCount, 16);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
