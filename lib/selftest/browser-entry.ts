// The page's script for `deno task doctor --browser` (lib/cli/doctor-browser.ts bundles it for the
// browser and serves it at /lib/selftest/browser-entry.js, so the bundled lib/gpu/kernels.ts finds
// kernels/*.wgsl at /kernels/ exactly as it does from disk). It opens the browser's own WebGPU (Chromium:
// Dawn compiling WGSL with Tint, where Deno has wgpu and naga), runs every case of every kernel check
// under the seed in the address (?seed=N, the same streams as `VIFI_SEED=N deno task test`), and POSTs
// each message to /report as it happens, so a hang still says which case it was in.

import { getRuntime } from "../gpu/runtime.ts";
import { type PageMessage, runEveryCase } from "./browser-run.ts";

async function post(m: PageMessage): Promise<void> {
  const res = await fetch("/report", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(m),
  });
  if (!res.ok) throw new Error(`vifi: /report answered HTTP ${res.status}`);
}

async function main(): Promise<void> {
  const params = new URL(globalThis.location.href).searchParams;
  const seedText = params.get("seed");
  const seed = Number(seedText);
  if (seedText === null || !/^\d+$/.test(seedText) || seed >= 2 ** 32) {
    throw new Error(`vifi: the page needs ?seed=<integer in [0, 2^32)>, got ${JSON.stringify(seedText)}`);
  }
  const rt = await getRuntime();
  await runEveryCase(rt, seed, post, params.get("filter") ?? "");
}

main().catch((e) => {
  const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
  post({ type: "fatal", message }).catch(() => {});
});
