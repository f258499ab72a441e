// Size caps checked before memory is allocated. A video is untrusted input: a 200 KB H.264 file can declare
// 8192×8192 frames (6 GB and 30 s to decode), and a command line can ask for 100,000 clips. Each cap has a
// default that real datasets stay far below and an environment variable to raise it; the error says both.

/** A cap: its environment variable, default and unit, for messages. */
interface Cap {
  env: string;
  def: number;
  unit: string;
}

/** Pixels of one decoded frame: 4096² covers DCI 4K and portrait UHD; 8K video is refused. */
export const FRAME_PIXELS: Cap = { env: "VIFI_MAX_FRAME_PIXELS", def: 4096 * 4096, unit: "pixels" };
/**
 * Samples one MP4 track may declare: reading a video lists every sample (about 660 bytes each while
 * probing), so 500,000 (4.6 hours at 30 fps) is 330 MB; a damaged table declaring millions is refused.
 */
export const TRACK_SAMPLES: Cap = { env: "VIFI_MAX_TRACK_SAMPLES", def: 500_000, unit: "samples" };
/** RGB bytes of the frames one decode returns (frame bytes × distinct sampled frames). */
export const DECODE_MB: Cap = { env: "VIFI_MAX_DECODE_MB", def: 2048, unit: "MB" };
/** float32 bytes of one video's model input (views × frames × 3 × size²), or of one embed batch. */
export const INPUT_MB: Cap = { env: "VIFI_MAX_INPUT_MB", def: 2048, unit: "MB" };

/** The cap's value: the environment variable when set (a positive decimal integer), else the default. */
export function capValue(cap: Cap): number {
  let v: string | undefined;
  try {
    v = Deno.env.get(cap.env);
  } catch {
    return cap.def; // no env permission (a sandboxed worker): the default holds
  }
  if (v === undefined || v === "") return cap.def;
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) {
    throw new Error(
      `vifi: ${cap.env} must be a positive decimal integer (${cap.unit}), got ${JSON.stringify(v)}`,
    );
  }
  return Number(v);
}

function mb(bytes: number): string {
  const m = bytes / 2 ** 20;
  return m >= 10_000 ? `${(m / 1024).toFixed(1)} GB` : `${m.toFixed(1)} MB`;
}

export function over(cap: Cap, limit: number): string {
  return `over the limit of ${limit} ${cap.unit} (raise it with ${cap.env}=N)`;
}

/** Why a frame of w×h pixels is refused ("frames of …, over the limit …"), or undefined when it fits. */
export function frameTooLarge(w: number, h: number): string | undefined {
  const limit = capValue(FRAME_PIXELS);
  if (!(w * h > limit)) return undefined;
  return `frames of ${w}x${h} (${w * h} pixels), ${over(FRAME_PIXELS, limit)}`;
}

/** Why decoding `n` RGB frames of w×h is refused, or undefined when it fits. */
export function decodeTooLarge(w: number, h: number, n: number): string | undefined {
  const limit = capValue(DECODE_MB);
  const bytes = w * h * 3 * n;
  if (!(bytes > limit * 2 ** 20)) return undefined;
  return `${n} decoded frames of ${w}x${h} take ${mb(bytes)}, ${over(DECODE_MB, limit)}; sample fewer frames`;
}

/**
 * Throws when `views` × `frames` float32 images of 3×size×size exceed the input cap: what `what` names
 * ("3 clips × 1 crop", "a batch of 4 videos") is in the message, so the user knows which option to lower.
 */
export function checkInputSize(what: string, views: number, frames: number, size: number): void {
  const limit = capValue(INPUT_MB);
  const bytes = views * frames * 3 * size * size * 4;
  if (bytes > limit * 2 ** 20) {
    throw new Error(
      `vifi: ${what} × ${frames} frames of ${size}x${size} are ${mb(bytes)} of model input, ` +
        `${over(INPUT_MB, limit)}; lower them`,
    );
  }
}

/** The environment variables, for usage texts. */
export const LIMITS_USAGE =
  `size caps (environment): ${FRAME_PIXELS.env} (default ${FRAME_PIXELS.def} pixels a frame),
      ${DECODE_MB.env} (default ${DECODE_MB.def}, decoded frames of one video), ${INPUT_MB.env} (default ${INPUT_MB.def},
      model input of one video or batch), ${TRACK_SAMPLES.env} (default ${TRACK_SAMPLES.def}, samples of an MP4 track)`;
