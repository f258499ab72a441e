// The ffmpeg.wasm driver: one shared instance of ffmpeg compiled to wasm (it handles every H.264 profile real
// datasets use, and the AVI / WebM containers), kept healthy across many runs, and its failures turned into
// VideoErrors that say what went wrong.

import { capValue, FRAME_PIXELS, frameTooLarge } from "./limits.ts";
import { VideoError } from "./video-info.ts";

interface FFmpegCore {
  FS: {
    writeFile(path: string, data: Uint8Array): void;
    readFile(path: string): Uint8Array;
    unlink(path: string): void;
  };
  exec(...args: string[]): number;
  ffprobe(...args: string[]): number;
  setLogger(fn: (e: { type: string; message: string }) => void): void;
  reset(): void;
}

let wasmModule: Promise<WebAssembly.Module> | undefined;
let wasmBytes: () => Promise<BufferSource> = () =>
  Deno.readFile(new URL(import.meta.resolve("npm:@ffmpeg/core@0.12.10/wasm")));

/**
 * Where the ffmpeg.wasm binary comes from; by default the npm package's file, read from disk. A page has no
 * file system and fetches it from its own origin instead (lib/browser/video.ts). Takes effect before the
 * first decode only: the compiled module is kept.
 */
export function setFfmpegWasm(load: () => Promise<BufferSource>): void {
  wasmBytes = load;
}
let corePromise: Promise<FFmpegCore> | undefined;
let coreRuns = 0;
let coreLog: string[] = [];

/**
 * ffmpeg.wasm corrupts its own heap after about 100 runs in one instance ("memory access out of bounds"), so
 * the instance is replaced every CORE_RUNS runs. Compiling the 32 MB wasm is the slow part (~0.3 s) and is done
 * once; a fresh instance from the compiled module costs a few milliseconds.
 */
const CORE_RUNS = 40;

function ffmpegCore(): Promise<FFmpegCore> {
  if (corePromise && coreRuns >= CORE_RUNS) corePromise = undefined;
  corePromise ??= (async () => {
    coreRuns = 0;
    // The Emscripten build assumes a worker and reads self.location while loading.
    if (!(globalThis as { location?: unknown }).location) {
      Object.defineProperty(globalThis, "location", { value: new URL(import.meta.url), configurable: true });
    }
    const mod = await import("npm:@ffmpeg/core@0.12.10");
    wasmModule ??= wasmBytes().then((b) => WebAssembly.compile(b));
    const compiled = await wasmModule;
    const core = (await mod.default({
      instantiateWasm(
        imports: WebAssembly.Imports,
        done: (inst: WebAssembly.Instance, m: WebAssembly.Module) => void,
      ) {
        WebAssembly.instantiate(compiled, imports).then((inst) => done(inst, compiled));
        return {};
      },
    })) as FFmpegCore;
    core.setLogger((e) => {
      coreLog.push(e.message);
      if (coreLog.length > 200) coreLog = coreLog.slice(-100);
    });
    return core;
  })();
  coreRuns++;
  return corePromise;
}

let fileCounter = 0;

/** Runs ffmpeg (or ffprobe with `probe`) on one in-memory file; `build` gets the input and output names. */
export async function runFfmpeg(
  bytes: Uint8Array,
  file: string,
  build: (input: string, output: string) => string[],
  probe = false,
): Promise<Uint8Array> {
  try {
    return await runFfmpegOnce(bytes, file, build, probe);
  } catch (e) {
    // a damaged file can leave the instance in a state where a later, valid file hangs (fuzz VIFI_SEED=29):
    // after any failure the next run starts on a fresh instance (a few milliseconds)
    coreRuns = CORE_RUNS;
    if (!(e instanceof WebAssembly.RuntimeError)) throw e;
    // a trap leaves the instance unusable; one retry on a fresh instance separates that from a bad file
    coreRuns = CORE_RUNS;
    try {
      return await runFfmpegOnce(bytes, file, build, probe);
    } catch (e2) {
      coreRuns = CORE_RUNS;
      if (e2 instanceof WebAssembly.RuntimeError) {
        throw new VideoError(file, `ffmpeg crashed (${e2.message})`);
      }
      throw e2;
    }
  }
}

function fsExists(core: FFmpegCore, path: string): boolean {
  try {
    return core.FS.readFile(path).length > 0;
  } catch {
    return false;
  }
}

async function runFfmpegOnce(
  bytes: Uint8Array,
  file: string,
  build: (input: string, output: string) => string[],
  probe: boolean,
): Promise<Uint8Array> {
  const core = await ffmpegCore();
  const ext = file.match(/\.[A-Za-z0-9]{1,5}$/)?.[0] ?? "";
  const input = `in${++fileCounter}${ext}`;
  const output = `out${fileCounter}`;
  core.FS.writeFile(input, bytes);
  coreLog = [];
  try {
    core.reset();
    let rc: number;
    if (probe) {
      // ffprobe's wrapper never sets a return code, and on some exits throws a non-Error that the wrapper's own
      // `e.message.startsWith` check trips over; success is judged by whether it wrote its output.
      try {
        core.ffprobe(...build(input, output));
      } catch (e) {
        if (e instanceof WebAssembly.RuntimeError) throw e;
      }
      rc = fsExists(core, output) ? 0 : 1;
    } else {
      try {
        rc = core.exec(...build(input, output));
      } catch (e) {
        // an abort inside ffmpeg can surface as the wrapper's own TypeError rather than a wasm trap; either way
        // the instance is not to be trusted any more
        if (e instanceof WebAssembly.RuntimeError) throw e;
        throw new WebAssembly.RuntimeError(`ffmpeg aborted (${(e as Error)?.message ?? e})`);
      }
    }
    if (rc !== 0) {
      const big = coreLog.join(" ").match(/Picture size (\d+)x(\d+) exceeds specified max pixel count/);
      if (big) {
        throw new VideoError(file, `its video stream declares ${frameTooLarge(+big[1], +big[2]) ?? big[0]}`);
      }
      const log = coreLog.filter((l) => !l.startsWith("Aborted")).slice(-4).join(" | ");
      if (/Decoder .* not found|Unknown decoder|unsupported codec|codec not currently supported/i.test(log)) {
        throw new VideoError(file, `unsupported codec (${log})`);
      }
      throw new VideoError(file, `ffmpeg failed with code ${rc}: ${log || "no log"}`);
    }
    return core.FS.readFile(output);
  } finally {
    for (const p of [input, output]) {
      try {
        core.FS.unlink(p);
      } catch { /* output may not exist */ }
    }
  }
}

/** ffmpeg's decoder option refusing frames over the pixel cap (lib/video/limits.ts), as input options. */
export function maxPixels(): string[] {
  return ["-max_pixels", String(capValue(FRAME_PIXELS))];
}

/**
 * Runs the shared ffmpeg.wasm on one in-memory file and returns the output file; `args` receives the input and
 * output names inside ffmpeg's file system. Used to make High-profile / B-frame fixtures without native ffmpeg.
 */
export function ffmpegTransform(
  bytes: Uint8Array,
  fileName: string,
  args: (input: string, output: string) => string[],
): Promise<Uint8Array> {
  return runFfmpeg(bytes, fileName, args);
}
