// Integer options take plain decimal digits only: Number() would read "0x8", "1e1", " 8", "8.0" and "+8"
// as numbers the user never wrote. Every CLI that takes one refuses them with a usage error (exit 2).

import { intArg, positiveArg, UsageError } from "../../lib/cli/args.ts";
import { expect, runCli } from "./fixture.ts";

const BAD = [
  "0x8",
  "1e1",
  " 8",
  "8 ",
  "8.0",
  "+8",
  "-0",
  "",
  "0b1",
  "8_0",
  "Infinity",
  "99999999999999999999",
];

Deno.test("intArg: decimal digits only, at least min", () => {
  for (const v of BAD) {
    let err: unknown;
    try {
      intArg(v, "frames", 8, 1);
    } catch (e) {
      err = e;
    }
    expect(err instanceof UsageError, `--frames ${JSON.stringify(v)} was accepted`);
    expect(
      (err as Error).message.includes("--frames") && !(err as Error).message.includes("\n"),
      String(err),
    );
  }
  expect(intArg("8", "frames", 1, 1) === 8, "8");
  expect(intArg("08", "frames", 1, 1) === 8, "08");
  expect(intArg(undefined, "frames", 3, 1) === 3, "default");
  expect(intArg("0", "seed", 5, 0) === 0, "0 with min 0");
  let low: unknown;
  try {
    intArg("0", "frames", 8, 1);
  } catch (e) {
    low = e;
  }
  expect(low instanceof UsageError, "0 below min 1 accepted");
});

Deno.test("positiveArg: decimal numbers with an exponent, nothing else", () => {
  expect(positiveArg("1e-4", "tolerance", 1) === 1e-4, "1e-4");
  expect(positiveArg("0.5", "tolerance", 1) === 0.5, "0.5");
  for (const v of ["0x1", " 1", "0", "-1", "Infinity", "1e999", "NaN"]) {
    let threw = false;
    try {
      positiveArg(v, "tolerance", 1);
    } catch (e) {
      threw = e instanceof UsageError;
    }
    expect(threw, `--tolerance ${JSON.stringify(v)} was accepted`);
  }
});

Deno.test("every CLI refuses a non-decimal integer with a usage error before doing any work", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-args-" });
  try {
    const cases: [string, string[], string][] = [
      ["predict", ["v.mp4", "--weights", "w.safetensors", "--labels", "a,b", "--frames", "0x8"], "--frames"],
      ["embed", ["v.mp4", "--weights", "w.safetensors", "--frames", "1e1"], "--frames"],
      ["export", ["--weights", "w.safetensors", "--out", `${dir}/m.onnx`, "--batch", "8.0"], "--batch"],
      [
        "export",
        ["--weights", "w.safetensors", "--out", `${dir}/m.onnx`, "--tolerance", "0x1"],
        "--tolerance",
      ],
      ["train", ["x.exp.ts", "--batch-size", "+8"], "--batch-size"],
      ["eval", ["x.exp.ts", "--crops", " 3"], "--crops"],
      ["video", ["v.mp4", "--frames", "0x8"], "--frames"],
      ["synthetic", [`${dir}/data`, "--frames", "1e1"], "--frames"],
      ["tokenize", ["--context", "0x10", "hello"], "--context"],
      ["weights", ["inspect", `${dir}/w.safetensors`, "--head-width", "0x8"], "--head-width"],
      ["weights", ["inspect", `${dir}/w.safetensors`, "--head-width", "1e1"], "--head-width"],
      ["dashboard", ["--db", `${dir}/r.db`, "--port", "0x50"], "--port"],
      ["dashboard", ["--db", `${dir}/r.db`, "--port", "8e1"], "--port"],
      ["dashboard", ["--db", `${dir}/r.db`, "--port", "65536"], "--port"],
      ["bench", ["--reps", "0x3"], "--reps"],
      ["bench", ["--reps", "1e1"], "--reps"],
    ];
    for (const [cli, args, flag] of cases) {
      const r = await runCli(cli, ...args);
      const first = r.err.split("\n")[0];
      expect(r.code === 2, `${cli} ${args.join(" ")}: exit ${r.code}\n${r.err}`);
      expect(first.includes(flag) && first.includes("decimal"), `${cli}: first line ${first}`);
      expect(r.out === "", `${cli}: printed ${r.out}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
