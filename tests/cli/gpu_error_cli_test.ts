// A WebGPU validation error during predict, embed or export ends the command with exit 1 and one line on
// stderr naming it; no result is printed and no output file is written, since whatever the GPU returned
// after the error is not an answer.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { main as predict } from "../../lib/cli/predict.ts";
import { main as embed } from "../../lib/cli/embed.ts";
import { main as exportCli } from "../../lib/cli/export.ts";
import { expect, type Fixture, makeFixture } from "./fixture.ts";

let fx: Fixture | undefined;
async function fixture(): Promise<Fixture> {
  return fx ??= await makeFixture(13);
}

/** A genuine uncaptured validation error: a storage buffer that is also MAP_READ. */
async function invalidGpuCommand(): Promise<void> {
  const rt = await getRuntime();
  const before = rt.gpu.errors.length;
  rt.gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
  await rt.gpu.device.queue.onSubmittedWorkDone();
  for (let i = 0; i < 100 && rt.gpu.errors.length === before; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(rt.gpu.errors.length > before, "the invalid buffer raised no WebGPU error");
}

/** Runs a CLI's main in this process (the runtime with the pending error is this process's). */
async function captured(run: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const code = await run();
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("predict, embed, export: a GPU error is one line and exit 1, with no result and no file", async () => {
  const f = await fixture();
  const model = ["--weights", f.checkpoint, "--template", "{name}", "-T", "2"];
  const runs: [string, () => Promise<number>, string?][] = [
    ["predict", () => predict([f.videos[0], ...model, "--labels", "red,blue", "--json"])],
    [
      "embed",
      () => embed([f.videos[0], ...model, "--out", `${f.dir}/e.safetensors`]),
      `${f.dir}/e.safetensors`,
    ],
    [
      "export",
      () => exportCli([...model, "--what", "image", "--out", `${f.dir}/m.onnx`, "--no-verify"]),
      `${f.dir}/m.onnx`,
    ],
  ];
  for (const [name, run, file] of runs) {
    await invalidGpuCommand();
    const r = await captured(run);
    expect(r.code === 1, `${name}: exit ${r.code}\n${r.out}\n${r.err}`);
    expect(r.out === "", `${name} printed a result after a GPU error: ${r.out}`);
    expect(
      /^error: GPU error/.test(r.err) && !r.err.includes("\n"),
      `${name}: stderr ${JSON.stringify(r.err)}`,
    );
    if (file) expect(!(await Deno.stat(file).then(() => true, () => false)), `${name} wrote ${file}`);
  }
  // the error was reported once: the next command runs clean
  const ok = await captured(() => predict([f.videos[0], ...model, "--labels", "red,blue", "--json"]));
  expect(ok.code === 0 && JSON.parse(ok.out).predictions.length === 2, `after: ${ok.code} ${ok.err}`);
});

Deno.test({
  name: "GPU error CLI tests: clean up",
  fn: async () => {
    if (fx) await Deno.remove(fx.dir, { recursive: true });
  },
});
