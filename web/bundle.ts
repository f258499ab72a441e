// Builds the islands' browser bundle once at start-up with `deno bundle` (built in; esbuild underneath),
// so the dashboard serves its own JavaScript and makes no request outside the machine.

import { fileURLToPath } from "node:url";

export interface IslandsBundle {
  js: string;
  bytes: number;
  ms: number;
}

const CLIENT = fileURLToPath(new URL("./client.tsx", import.meta.url));

/** `entry`: another page script than client.tsx (the predict page's in-browser bundle, web/predict-browser.ts). */
export async function buildIslands(opts: { minify?: boolean; entry?: URL } = {}): Promise<IslandsBundle> {
  const t0 = performance.now();
  const dir = await Deno.makeTempDir({ prefix: "vifi-islands-" });
  try {
    const out = `${dir}/islands.js`;
    const args = [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "-o",
      out,
      opts.entry ? fileURLToPath(opts.entry) : CLIENT,
    ];
    if (opts.minify ?? true) args.splice(1, 0, "--minify");
    const r = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).output();
    if (!r.success) {
      throw new Error(`deno bundle failed (exit ${r.code}): ${new TextDecoder().decode(r.stderr).trim()}`);
    }
    const js = await Deno.readTextFile(out);
    return { js, bytes: new TextEncoder().encode(js).length, ms: performance.now() - t0 };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
