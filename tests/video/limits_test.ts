// Size caps before allocation (lib/video/limits.ts): a few-KB H.264 file that declares 8192² frames, in its
// container or only in its bitstream, is refused at once and in little memory; so are more decoded frames
// than the decode cap and more model input (clips × crops × frames) than the input cap. Each message names
// the file or the options and the environment variable that raises the limit.

import { decodeFrames, openVideo, VideoError } from "../../lib/video/decode.ts";
import { encodeTestPattern } from "../../lib/video/test-pattern.ts";
import { prepareVideo } from "../../lib/data/prepare.ts";
import { runCli } from "../run_cli.ts";
import { hugeDimsMp4 } from "./huge_dims.ts";
import { withEnv } from "../with_env.ts";

/** The side the bomb declares: 8192² frames are 67 M pixels, 4× the default cap. */
const SIDE = 8192;
/** What refusing may cost in resident memory; decoding such a file took 6 GB. */
const MAX_RSS_GROWTH = 256 * 2 ** 20;

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

async function refusal(fn: () => Promise<unknown>): Promise<{ message: string; grew: number }> {
  const before = Deno.memoryUsage().rss;
  try {
    await fn();
  } catch (e) {
    const grew = Deno.memoryUsage().rss - before;
    return { message: (e as Error).message, grew };
  }
  throw new Error("expected a refusal");
}

Deno.test(`limits: a small file whose container declares ${SIDE}² frames is refused before decoding`, async () => {
  const bytes = await hugeDimsMp4(SIDE, SIDE, true);
  check(bytes.length < 20_000, `fixture is ${bytes.length} bytes`);
  const info = await openVideo(bytes, "bomb.mp4");
  check(info.width === SIDE && info.height === SIDE, `declared ${info.width}x${info.height}`);
  const r = await refusal(() => decodeFrames(bytes, "bomb.mp4", [0, 1, 2], info));
  check(
    r.message.startsWith(`bomb.mp4: declares frames of ${SIDE}x${SIDE}`) &&
      r.message.includes("VIFI_MAX_FRAME_PIXELS") && r.message.includes("16777216"),
    r.message,
  );
  check(r.grew < MAX_RSS_GROWTH, `resident memory grew ${(r.grew / 2 ** 20).toFixed(0)} MB`);
});

Deno.test(`limits: a file whose H.264 stream alone declares ${SIDE}² frames is refused by the decoder`, async () => {
  const bytes = await hugeDimsMp4(SIDE, SIDE, false);
  const info = await openVideo(bytes, "stream.mp4");
  check(info.width === 64, `the container says ${info.width}`);
  const r = await refusal(() => decodeFrames(bytes, "stream.mp4", [0, 1, 2], info));
  check(
    r.message.startsWith(`stream.mp4: its video stream declares frames of ${SIDE}x${SIDE}`) &&
      r.message.includes("VIFI_MAX_FRAME_PIXELS"),
    r.message,
  );
  check(r.grew < MAX_RSS_GROWTH, `resident memory grew ${(r.grew / 2 ** 20).toFixed(0)} MB`);
  // and through the whole pipeline, which would otherwise retry with a frame count
  const p = await refusal(() =>
    prepareVideo({ path: "stream.mp4", mode: "test", frames: 4, size: 32, seed: 0 }, bytes)
  );
  check(p.message.includes("VIFI_MAX_FRAME_PIXELS") && !p.message.includes("\n"), p.message);
  // a cap raised above the stream's size lets it through
  const raised = await withEnv("VIFI_MAX_FRAME_PIXELS", String(256 * 256), async () => {
    const small = await hugeDimsMp4(256, 256, false);
    return await decodeFrames(small, "s.mp4", [0], await openVideo(small, "s.mp4")).catch((e) => e);
  });
  // 256² stream frames against a 64² container: refused as a mismatch, not sliced into garbage
  check(
    raised instanceof VideoError && /larger than the 64x64 the container declares/.test(raised.message),
    String(raised),
  );
});

Deno.test("limits: decoded frame bytes over VIFI_MAX_DECODE_MB are refused; under it they decode", async () => {
  const bytes = await encodeTestPattern({
    width: 256,
    height: 256,
    rate: 8,
    seconds: 1,
    encode: ["-c:v", "libx264", "-pix_fmt", "yuv420p"],
  });
  const info = await openVideo(bytes, "p.mp4");
  await withEnv("VIFI_MAX_DECODE_MB", "1", async () => {
    // 8 frames × 256² × 3 = 1.5 MB
    const r = await refusal(() => decodeFrames(bytes, "p.mp4", [0, 1, 2, 3, 4, 5, 6, 7], info));
    check(
      /^p\.mp4: 8 decoded frames of 256x256 take 1\.5 MB, over the limit of 1 MB/.test(r.message),
      r.message,
    );
    check(r.message.includes("VIFI_MAX_DECODE_MB"), r.message);
    const four = await decodeFrames(bytes, "p.mp4", [0, 2, 4, 6], info);
    check(four.length === 4 && four[0].width === 256, "4 frames (0.75 MB) decode");
  });
  await withEnv("VIFI_MAX_DECODE_MB", "0x10", async () => {
    const r = await refusal(() => decodeFrames(bytes, "p.mp4", [0], info));
    check(
      r.message.includes('VIFI_MAX_DECODE_MB must be a positive decimal integer (MB), got "0x10"'),
      r.message,
    );
  });
});

Deno.test("limits: clips × crops × frames over VIFI_MAX_INPUT_MB are refused before the file is read", async () => {
  // the path does not exist: the refusal must come before any reading
  const r = await refusal(() =>
    prepareVideo({
      path: "/nonexistent/v.mp4",
      mode: "test",
      frames: 8,
      clips: 100000,
      crops: 3,
      size: 224,
      seed: 0,
    })
  );
  check(
    /100000 clips × 3 crops × 8 frames of 224x224 are [0-9.]+ GB of model input/.test(r.message),
    r.message,
  );
  check(r.message.includes("over the limit of 2048 MB (raise it with VIFI_MAX_INPUT_MB=N)"), r.message);
  // training draws one view whatever clips says
  const train = await refusal(() =>
    prepareVideo({ path: "/nonexistent/v.mp4", mode: "train", frames: 8, clips: 100000, size: 224, seed: 0 })
  );
  check(
    train.message.includes("/nonexistent/v.mp4") && !train.message.includes("model input"),
    train.message,
  );
});

Deno.test("limits: the video CLI reports the caps as one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-limits-" });
  try {
    await Deno.writeFile(`${dir}/bomb.mp4`, await hugeDimsMp4(SIDE, SIDE, true));
    await Deno.writeFile(`${dir}/ok.mp4`, await hugeDimsMp4(64, 64, false));
    const bomb = await runCli("video", `${dir}/bomb.mp4`, "--dump", `${dir}/out`);
    check(bomb.code === 1 && bomb.err.trim().split("\n").length === 1, `exit ${bomb.code}: ${bomb.err}`);
    check(bomb.err.includes(`${dir}/bomb.mp4`) && bomb.err.includes("VIFI_MAX_FRAME_PIXELS"), bomb.err);
    const clips = await runCli(
      "video",
      `${dir}/ok.mp4`,
      "--clips",
      "100000",
      "--dump",
      `${dir}/out`,
      "--transformed",
    );
    check(clips.code === 1 && clips.err.trim().split("\n").length === 1, `exit ${clips.code}: ${clips.err}`);
    check(clips.err.includes("100000 clips") && clips.err.includes("VIFI_MAX_INPUT_MB"), clips.err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
