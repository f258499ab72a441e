// A rotated MP4 (track matrix set by remuxing with ffmpeg's rotate tag, same bitstream): the rotation is
// read from the container and applied to the decoded frames, pixel for pixel, sides swapped.

import { assertEquals } from "../data/assert.ts";
import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { decodeAll, decodeFrames, ffmpegTransform, type Frame, openVideo } from "../../lib/video/decode.ts";
import { prepareVideo } from "../../lib/data/prepare.ts";

/** (x, y) of `f` moved to where a clockwise quarter turn puts it, `turns` times. */
function rotateClockwise(f: Frame, turns: number): Frame {
  let cur = f;
  for (let t = 0; t < turns; t++) {
    const { width: W, height: H } = cur;
    const out = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const to = (x * H + (H - 1 - y)) * 3; // new width is H
        out.set(cur.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3), to);
      }
    }
    cur = { width: H, height: W, data: out };
  }
  return cur;
}

Deno.test("rotated MP4: rotation read from the track matrix and applied to every decoded frame", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-rotation-" });
  try {
    // not square, so a swap of the sides shows
    const data = await generateSynthetic(dir, {
      seed: 2,
      clipsPerClass: 1,
      frames: 6,
      size: 48,
      colours: ["blue"],
      shapes: ["triangle"],
      motions: ["up"],
    });
    const path = `${dir}/${data.clips[0].path}`;
    const plain = await ffmpegTransform(await Deno.readFile(path), "plain.mp4", (i, o) => [
      "-i",
      i,
      "-vf",
      "crop=48:32:0:8",
      "-c:v",
      "mjpeg",
      "-q:v",
      "2",
      "-f",
      "mp4",
      o,
    ]);
    // ffmpeg 5's rotate tag writes a display matrix of a quarter turn counter-clockwise, i.e. 270° clockwise
    const rotated = await ffmpegTransform(plain, "plain.mp4", (i, o) => [
      "-i",
      i,
      "-c",
      "copy",
      "-metadata:s:v:0",
      "rotate=90",
      "-f",
      "mp4",
      o,
    ]);
    const a = await openVideo(plain, "plain.mp4");
    const b = await openVideo(rotated, "rotated.mp4");
    assertEquals([a.width, a.height, a.rotation], [48, 32, 0]);
    assertEquals([b.width, b.height, b.rotation], [48, 32, 270]);
    const upright = await decodeAll(plain, "plain.mp4");
    const turned = await decodeAll(rotated, "rotated.mp4");
    assertEquals(turned.length, upright.length);
    for (let t = 0; t < upright.length; t++) {
      const want = rotateClockwise(upright[t], 3);
      assertEquals([turned[t].width, turned[t].height], [32, 48], `frame ${t} size`);
      let diff = 0;
      for (let i = 0; i < want.data.length; i++) {
        diff = Math.max(diff, Math.abs(want.data[i] - turned[t].data[i]));
      }
      assertEquals(diff, 0, `frame ${t}: largest pixel difference`);
    }
    // a few frames decode through a trimmed copy of the file, which must carry the rotation too
    const some = [turned.length - 1, 1];
    const picked = await decodeFrames(rotated, "rotated.mp4", some);
    assertEquals(picked.map((f) => f.data), some.map((t) => turned[t].data));
    // and what the model receives has the rotated geometry: short side 32 → 256/224·S, centre crop
    await Deno.writeFile(`${dir}/rotated.mp4`, rotated);
    const p = await prepareVideo({ path: `${dir}/rotated.mp4`, mode: "test", frames: 2, size: 32, seed: 0 });
    assertEquals(p.shape, [2, 3, 32, 32]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
