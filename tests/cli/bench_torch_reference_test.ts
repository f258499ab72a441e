// bench/torch_reference.py, the PyTorch side of `deno task bench --suite gpu`: its rows carry the same
// names as ours (op and shape, at both scales), and a tiny run measures them or says why not. Skipped,
// with the reason printed, where no python here imports torch.

import { assert, assertEquals } from "../data/assert.ts";
import { planRowKeys, type Scale, suitePlan } from "../../lib/cli/bench/gpu-shapes.ts";
import { findTorchPython, type TorchResult } from "../../lib/cli/bench/torch-reference.ts";

const found = await findTorchPython();
if ("skipped" in found) console.log(`torch reference tests skipped: ${found.skipped}`);
const python = "python" in found ? found.python : "";
const script = new URL("../../bench/torch_reference.py", import.meta.url).pathname;

async function runScript(...args: string[]): Promise<TorchResult> {
  const out = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const r = await new Deno.Command(python, { args: [script, ...args, "--json", out], stderr: "piped" })
      .output();
    assert(r.success, new TextDecoder().decode(r.stderr));
    return JSON.parse(await Deno.readTextFile(out));
  } finally {
    await Deno.remove(out);
  }
}

Deno.test({
  name: "torch_reference.py --list: the same op and shape names as the vifi rows, both scales",
  ignore: !python,
  async fn() {
    for (const scale of ["tiny", "full"] as Scale[]) {
      const res = await runScript("--scale", scale, "--list", "--precisions", "fp32,bf16");
      const keys = (p: string) => res.rows.filter((r) => r.precision === p).map((r) => `${r.op}|${r.shape}`);
      const ours = [...new Set(planRowKeys(suitePlan(scale)))];
      for (const p of ["fp32", "bf16"]) assertEquals([...new Set(keys(p))], ours, `${scale} ${p}`);
    }
  },
});

Deno.test({
  name: "torch_reference.py --scale tiny: every row measured with a positive time or skipped with a reason",
  ignore: !python,
  async fn() {
    // a short budget: the kernel rows always run, the model rows may be skipped for it on a loaded CPU
    const res = await runScript("--scale", "tiny", "--precisions", "fp32", "--budget-s", "20");
    assertEquals(res.scale, "tiny");
    assert(res.rows.length > 0);
    for (const r of res.rows) {
      const what = `${r.op} ${r.shape} ${r.precision} ${r.variant}`;
      if (r.skipped !== undefined) assert(r.skipped.length > 0, what);
      else assert(typeof r.ms === "number" && Number.isFinite(r.ms) && r.ms > 0, `${what}: ${r.ms}`);
    }
    const gemm = res.rows.filter((r) => r.op === "gemm");
    assert(gemm.length > 0 && gemm.every((r) => r.ms! > 0), "the first rows run before any budget is spent");
  },
});
