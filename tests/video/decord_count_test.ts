// Frame counting as decord does it (issue 12 §3): `len(reader)` is the stream's nb_frames, else
// avg_frame_rate × the container's duration (WebM keeps no count, as SSv2 ships), else the packets.
// The count places TSN's segment boundaries, so it must be decord's, not the packets counted.

import { encodeMp4 } from "../../lib/data/synthetic.ts";
import { decodeFrames, decordFrameCount, MissingFramesError, openVideo } from "../../lib/video/decode.ts";
import { encodeTestPattern } from "../../lib/video/test-pattern.ts";

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

Deno.test("decordFrameCount: nb_frames, else fps × duration truncated, else packets", () => {
  const c = (...a: Parameters<typeof decordFrameCount>) => JSON.stringify(decordFrameCount(...a));
  check(c("50", "25/1", "3.000000", 48) === '{"count":50,"from":"nb_frames"}', c("50", "25/1", "3.0", 48));
  // 24000/1001 × 2.919 s = 69.98…: decord truncates
  check(c(undefined, "24000/1001", "2.919000", 71) === '{"count":69,"from":"duration"}', "NTSC duration");
  check(c("N/A", "12/1", "2.958000", 36) === '{"count":35,"from":"duration"}', "12 fps");
  check(c("0", "0/0", "2.0", 17) === '{"count":17,"from":"packets"}', "no rate");
  check(c(undefined, "25/1", undefined, 9) === '{"count":9,"from":"packets"}', "no duration");
});

Deno.test("WebM: the count is fps × duration, not the packets; MP4: the sample table's count", async () => {
  const pattern = { width: 32, height: 32, rate: 6, seconds: 1 };
  // frame 4 dropped with its timestamp kept: 5 packets over one second at 6 fps
  const webm = await encodeTestPattern({
    ...pattern,
    format: "webm",
    encode: ["-vf", "select='not(eq(n\\,4))'", "-fps_mode", "passthrough", "-c:v", "libvpx", "-g", "3"],
  });
  const w = await openVideo(webm, "gap.webm");
  check(w.times.length === 5, `packets ${w.times.length}`);
  check(w.frameCount === 6 && w.frameCountFrom === "duration", `${w.frameCount} from ${w.frameCountFrom}`);
  check(w.durationS === 1, `duration ${w.durationS}`);
  // decord's count can name a frame that does not decode: said, not filled with garbage
  let err: unknown;
  try {
    await decodeFrames(webm, "gap.webm", [5], w);
  } catch (e) {
    err = e;
  }
  check(err instanceof MissingFramesError, `index 5: ${err}`);
  const [f] = await decodeFrames(webm, "gap.webm", [4], w);
  check(f.width === 32 && f.data.length === 32 * 32 * 3, "frame 4 decodes");

  const frames: Uint8Array[] = [];
  for (let t = 0; t < 7; t++) frames.push(new Uint8Array(16 * 16 * 4).fill(30 * t));
  const mp4 = await encodeMp4(frames, 16, 16, 6, { gop: 3 });
  const m = await openVideo(mp4, "seven.mp4");
  check(m.frameCount === 7 && m.frameCountFrom === "nb_frames", `${m.frameCount} from ${m.frameCountFrom}`);
});
