// `deno task bench --suite gpu` end to end at tiny scale (every section in the JSON, each row measured
// with finite positive numbers or skipped with its reason), its argument refusals, and the pieces it is
// made of: the budget guard, the FLOP count, PyTorch's rows joined to ours.

import { assert, assertEquals } from "../data/assert.ts";
import { runCli } from "../run_cli.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { gemmCandidates } from "../../lib/tensor/ops/matmul.ts";
import { Budget } from "../../lib/cli/bench/gpu-budget.ts";
import { rowFlops, suitePlan } from "../../lib/cli/bench/gpu-shapes.ts";
import { attachTorch } from "../../lib/cli/bench/torch-reference.ts";
import type { GpuSuiteResult } from "../../lib/cli/bench/gpu-suite.ts";
import type { BenchRow } from "../../lib/cli/bench/row.ts";

function assertStringIncludes(text: string, part: string): void {
  assert(text.includes(part), `expected ${JSON.stringify(part)} in: ${text.slice(0, 400)}`);
}

const positive = (x: unknown) => typeof x === "number" && Number.isFinite(x) && x > 0;

function checkRow(r: BenchRow): void {
  const what = `${r.op} ${r.shape} ${r.dtype} ${r.variant ?? ""}`;
  if (r.skipped !== undefined) {
    assert(r.skipped.length > 0, `${what}: skipped without a reason`);
    return;
  }
  assert(positive(r.ms), `${what}: ms ${r.ms}`);
  assert(positive(r.gflops) || positive(r.gbps), `${what}: no GFLOP/s or GB/s`);
  if (r.section === "model") {
    assert(positive(r.frames_per_s), `${what}: frames/s ${r.frames_per_s}`);
    assert(positive(r.host_share) && r.host_share! <= 1, `${what}: host share ${r.host_share}`);
    assert(positive(r.peak_mb), `${what}: peak ${r.peak_mb}`);
  }
}

Deno.test("bench --suite gpu --scale tiny: every section, rows finite and positive or skipped", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const json = `${dir}/gpu.json`;
    const budget = 90;
    const { code, out, err } = await runCli(
      "bench",
      ...[
        "--suite",
        "gpu",
        "--scale",
        "tiny",
        "--budget-s",
        String(budget),
        "--torch",
        "off",
        "--tune",
        "off",
      ],
      ...["--json", json],
    );
    assertEquals(code, 0, err);
    assertStringIncludes(out, "section gemm:");
    const res = JSON.parse(await Deno.readTextFile(json)) as GpuSuiteResult;
    assertEquals(res.suite, "gpu");
    assertEquals(res.scale, "tiny");
    assertEquals(res.sections.map((s) => s.name), ["gemm", "attention", "layernorm", "model"]);
    assertEquals(res.torch, { skipped: "--torch off" });
    for (const s of res.sections) {
      assert(s.rows.length > 0, `section ${s.name} has no rows`);
      assert(s.elapsed_s >= 0);
      for (const r of s.rows) checkRow(r);
    }
    // the first row always runs (it calibrates the guard); later ones may be skipped for the budget
    assertEquals(res.sections[0].rows[0].skipped, undefined);
    // every GEMM candidate of the shape has a row, in gemmCandidates' order
    const rt = await getRuntime();
    const g = suitePlan("tiny").gemm[0];
    const ids = gemmCandidates(rt, {
      M: g.M,
      N: g.N,
      K: g.K,
      batch: g.batch,
      transA: false,
      transB: g.transB,
      dtype: "f32",
      bias: false,
      activation: "none",
      accumulate: false,
    });
    const f32 = res.sections[0].rows.filter((r) =>
      r.shape.includes(`${g.M}x${g.K}x${g.N}`) && r.dtype === "f32"
    );
    assertEquals(f32.map((r) => r.variant), ids);
    // the guard keeps the suite near its budget: at most one row (a few seconds here) past it
    assert(res.elapsed_s < budget + 45, `took ${res.elapsed_s} s with a ${budget} s budget`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench --suite gpu --sections model: the ViT-B/16 forward row with frames/s, host share, peak", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const json = `${dir}/gpu.json`;
    const { code, err } = await runCli(
      "bench",
      ...["--suite", "gpu", "--scale", "tiny", "--sections", "model", "--budget-s", "30", "--torch", "off"],
      ...["--json", json],
    );
    assertEquals(code, 0, err);
    const res = JSON.parse(await Deno.readTextFile(json)) as GpuSuiteResult;
    assertEquals(res.sections.map((s) => s.name), ["model"]);
    const rows = res.sections[0].rows;
    for (const r of rows) checkRow(r);
    // with no rate to go by the first row runs; the rest run or are skipped for the 30 s budget
    assertEquals([rows[0].op, rows[0].dtype, rows[0].skipped], ["vifi-forward", "f32", undefined]);
    assertEquals(rows.length, 2 * (res.sections[0].rows.some((r) => r.dtype === "f16") ? 2 : 1));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench refuses a bad --suite, --scale, --budget-s or --torch with a one-line error", async () => {
  for (
    const [args, name] of [
      [["--suite", "gpus"], "--suite"],
      [["--suite", "gpu", "--scale", "huge"], "--scale"],
      [["--suite", "gpu", "--budget-s", "0"], "--budget-s"],
      [["--suite", "gpu", "--torch", "yes"], "--torch"],
      [["--suite", "gpu", "--sections", "gemm,nope"], "--sections"],
    ] as const
  ) {
    const { code, err } = await runCli("bench", ...args);
    assertEquals(code, 2, `${args.join(" ")}: ${err}`);
    assertStringIncludes(err, name);
    assertEquals(err.trim().split("\n").length, 1, err);
  }
});

Deno.test("Budget: the first row runs, later ones are estimated from the slowest rate seen", async () => {
  const b = new Budget(2);
  assert(b.fits("gemm", 1e9), "nothing measured yet: the first row must run");
  await b.measure("gemm", 100, () => new Promise((r) => setTimeout(r, 100)));
  const est = b.estimateS("gemm", 1000)!;
  assert(est >= 0.9 && est < 5, `1000 units at >= 1 ms each: ${est}`);
  assert(!b.fits("gemm", 1e6), "a thousand seconds of work must not fit in 2 s");
  assert(b.fits("gemm", 10));
  // a faster row does not lower the section's own rate (estimates err long) ...
  await b.measure("gemm", 1e6, () => Promise.resolve());
  assertEquals(b.estimateS("gemm", 1000), est);
  // ... but a section that borrows takes the fastest rate, times its factor
  const fast = b.estimateS("model", 1e6, { from: "gemm", factor: 4 })!;
  assert(fast < 4 * 1e6 * 1e-3, `borrowed the slow rate: ${fast}`);
  assertEquals(b.estimateS("layernorm", 1e6), undefined);
  assert(b.fits("layernorm", 1e12), "no rate and nothing borrowed: runs while time is left");
  await new Promise((r) => setTimeout(r, 2100));
  assert(!b.fits("layernorm", 1), "nothing runs once the budget is spent");
});

Deno.test("rowFlops: GEMMs, attention and the ViT-B/16 model rows against hand counts", () => {
  const g = { model: "B/16", name: "x", batch: 3, M: 5, K: 7, N: 11, transB: true };
  assertEquals(rowFlops({ kind: "gemm", g }), 2 * 3 * 5 * 7 * 11);
  const a = { B: 2, H: 3, L: 5, dh: 7 };
  assertEquals(rowFlops({ kind: "attention", a, backward: false }), 4 * 2 * 3 * 25 * 7);
  assertEquals(rowFlops({ kind: "attention", a, backward: true }), 8 * 2 * 3 * 25 * 7);
  // ViT-B/16 per frame: patch embedding (196 × 768 × 768 MACs), 12 blocks of 197 tokens × 768, the
  // 768 → 512 projection; then the video's cosine logits against C classes
  const [L, D] = [197, 768];
  const block = 2 * L * D * 3 * D + 4 * L * L * D + 2 * L * D * D + 4 * L * D * 4 * D;
  const frame = 2 * 196 * 768 * 768 + 12 * block + 2 * 768 * 512;
  const m = { batch: 2, frames: 3, classes: 5 };
  const fwd = 6 * frame + 2 * 2 * 5 * 512;
  assertEquals(rowFlops({ kind: "model", m, train: false }), fwd);
  assertEquals(rowFlops({ kind: "model", m, train: true }), 3 * fwd);
  assert(Math.abs(frame / 1e9 - 35.2) < 0.2, `${frame / 1e9} GFLOP per frame`);
});

Deno.test("attachTorch: PyTorch's best variant per op, shape and precision; ratio torch ms / vifi ms", () => {
  const row = (dtype: string, ms: number, extra: Partial<BenchRow> = {}): BenchRow => ({
    op: "attention fwd",
    shape: "1x12x197x64",
    dtype,
    ms,
    gflops: 100 / ms,
    ref: null,
    ref_ms: null,
    ratio: null,
    ...extra,
  });
  const rows = [
    row("f32", 2),
    row("f16", 4),
    row("f32", 0, { skipped: "budget" }),
    row("f32", 5, { shape: "other" }),
  ];
  attachTorch(rows, {
    torch: "2.5",
    device: "test",
    scale: "tiny",
    elapsed_s: 1,
    rows: [
      { op: "attention fwd", shape: "1x12x197x64", precision: "fp32", variant: "composed", ms: 6 },
      { op: "attention fwd", shape: "1x12x197x64", precision: "fp32", variant: "sdpa", ms: 3 },
      { op: "attention fwd", shape: "1x12x197x64", precision: "bf16", variant: "sdpa", ms: 1 },
      {
        op: "attention fwd",
        shape: "1x12x197x64",
        precision: "bf16",
        variant: "composed",
        skipped: "budget",
      },
    ],
  });
  assertEquals([rows[0].torch_ms, rows[0].torch_variant, rows[0].torch_ratio], [3, "fp32 sdpa", 1.5]);
  assertEquals(rows[0].torch_speed, 100 / 3);
  assertEquals([rows[1].torch_ms, rows[1].torch_variant, rows[1].torch_ratio], [1, "bf16 sdpa", 0.25]);
  assertEquals(rows[2].torch_ms, undefined);
  assertEquals(rows[3].torch_ms, undefined);
});
