// Fuzz every file kind vifi reads (mp4, avi, webm, pt/pth, safetensors, YAML configs, label CSVs, list
// and split files, tar archives): damaged copies of valid files go through the readers the commands
// call, in a child process (tests/fuzz/fuzz_main.ts) whose peak memory is read back. Each read must
// succeed or fail with a one-line Error naming the file; no RangeError, TypeError or stack overflow.
// Seeded: the seed is printed, VIFI_SEED=<seed> replays the same damaged files.

import { sessionSeed } from "../../lib/random/rng.ts";

const seed = sessionSeed();
console.log(`fuzz tests: seed ${seed} (replay with VIFI_SEED=${seed})`);

/** Peak resident memory of the whole fuzz process: about 280 MB measured here (ffmpeg.wasm included). */
const PEAK_BOUND_MB = 1024;

interface Summary {
  seed: number;
  cases: number;
  seconds: number;
  peakMb: number;
  failures: { kind: string; mutation: string; file: string; error: string }[];
}

Deno.test(`fuzz: damaged files of every kind fail in one line naming the file, under ${PEAK_BOUND_MB} MB`, async () => {
  const main = new URL("./fuzz_main.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check=remote", main.pathname, String(seed)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const stderr = new TextDecoder().decode(out.stderr);
  const last = stdout.split("\n").at(-1) ?? "";
  if (out.code !== 0 || !last.startsWith("{")) {
    throw new Error(`the fuzz process failed (exit ${out.code}): ${stderr.slice(-3000)}`);
  }
  const s: Summary = JSON.parse(last);
  // the per-kind lines: how many cases each reader refused (the rest read fine)
  console.log(stderr.split("\n").filter((l) => / cases \(/.test(l)).join("\n"));
  console.log(`${s.cases} cases in ${s.seconds.toFixed(1)} s, peak RSS ${s.peakMb.toFixed(0)} MB`);
  if (s.failures.length) {
    const shown = s.failures.slice(0, 10).map((f) => `${f.kind} (${f.mutation}): ${f.error.slice(0, 600)}`);
    throw new Error(
      `${s.failures.length} reads broke the contract (VIFI_SEED=${seed}):\n${shown.join("\n")}`,
    );
  }
  if (s.peakMb > PEAK_BOUND_MB) throw new Error(`the fuzz process peaked at ${s.peakMb.toFixed(0)} MB`);
});
