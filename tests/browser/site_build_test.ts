// `deno task site OUT` without a browser: the folder holds the page, its script two folders deep (where the
// bundled kernels loader looks for ../../kernels/), every kernel and the model file byte for byte,
// ffmpeg.wasm unless left out, and a manifest whose sizes are the files' own; the page's HTML loads the
// script by a relative path; without the demo's checkpoint or with a missing --weights the command fails in
// one line saying what to do, and a bad --template or a missing OUT is a usage error.

import { assert, assertEquals } from "../data/assert.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { saveCheckpoint } from "../../lib/train/checkpoint.ts";
import { SITE_PATHS } from "../../lib/cli/site.ts";
import type { SiteManifest } from "../../lib/browser/app/manifest.ts";

const SITE_CLI = new URL("../../lib/cli/site.ts", import.meta.url).pathname;
const KERNELS = new URL("../../kernels/", import.meta.url);

async function site(cwd: string, ...args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SITE_CLI, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: new TextDecoder().decode(r.stdout), err: new TextDecoder().decode(r.stderr) };
}

async function tinyCheckpoint(dir: string): Promise<string> {
  const tiny = clipConfig("tiny");
  const model = ViFiClip.fromWeights(await getRuntime(), tiny, initClipWeights(tiny, 2), "frozen");
  const path = `${dir}/tiny model.safetensors`;
  await saveCheckpoint(path, model);
  model.dispose();
  return path;
}

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

Deno.test({
  name: "deno task site: the page, the script, every kernel, the model and a truthful manifest",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vifi-site-build-" });
    try {
      const weights = await tinyCheckpoint(dir);
      await Deno.writeTextFile(`${dir}/labels.csv`, 'id,name\n0,red\n1,"blue, dark"\n');
      const r = await site(dir, "out", "--weights", weights, "--labels-file", "labels.csv", "--frames", "3");
      assertEquals(r.code, 0, r.err);
      assert(/^out: \d+ files, [\d.]+ MB \(model model\/tiny model\.safetensors/.test(r.out), r.out);
      const out = `${dir}/out`;
      const m: SiteManifest = JSON.parse(await Deno.readTextFile(`${out}/${SITE_PATHS.manifest}`));
      assertEquals(m.format, "vifi-site");
      assertEquals(m.model.file, "model/tiny model.safetensors");
      assertEquals(m.model.name, "tiny");
      assertEquals(m.model.tokenizer, "bytes");
      assertEquals(m.classes, ["red", "blue, dark"]);
      assertEquals([m.frames, m.template, m.vocab], [3, null, null]);
      assertEquals(m.ffmpegWasm, SITE_PATHS.ffmpegWasm);
      const bytes = await Deno.readFile(weights);
      assert(equalBytes(await Deno.readFile(`${out}/${m.model.file}`), bytes), "model");
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      assertEquals(m.model.sha256, [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""));
      for await (const k of Deno.readDir(KERNELS)) {
        if (!k.name.endsWith(".wgsl")) continue;
        const copy = await Deno.readFile(`${out}/kernels/${k.name}`);
        assert(equalBytes(copy, await Deno.readFile(new URL(k.name, KERNELS))), `kernels/${k.name}`);
      }
      for (const [path, size] of Object.entries(m.files)) {
        assertEquals((await Deno.stat(`${out}/${path}`)).size, size, `the manifest's size of ${path}`);
      }
      assertEquals(SITE_PATHS.script.split("/").length, 3, "the script is two folders deep");
      const html = await Deno.readTextFile(`${out}/index.html`);
      assert(html.includes(`<script type="module" src="${SITE_PATHS.script}">`), "the page loads its script");
      assert((await Deno.stat(`${out}/${SITE_PATHS.script}`)).size > 10_000, "the bundle");

      // without ffmpeg.wasm: the manifest says so and the file is not there
      const lean = await site(dir, "lean", "--weights", weights, "--no-ffmpeg");
      assertEquals(lean.code, 0, lean.err);
      const ml: SiteManifest = JSON.parse(await Deno.readTextFile(`${dir}/lean/manifest.json`));
      assertEquals(ml.ffmpegWasm, null);
      assertEquals(Object.keys(ml.files).filter((f) => f.includes("ffmpeg")), []);
      assertEquals(ml.classes, [], "no labels suggested without a labels file");
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("deno task site: no demo checkpoint, a missing --weights, bad usage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-site-build-" });
  try {
    const none = await site(dir, "out");
    assertEquals(none.code, 1, none.err);
    assertEquals(
      none.err.trim(),
      "error: site: no weights: the demo's checkpoint runs/demo/train/best.safetensors is absent; " +
        "run deno task demo or pass --weights",
    );
    const missing = await site(dir, "out", "--weights", "nothing.safetensors");
    assertEquals(missing.code, 1);
    assertEquals(missing.err.trim(), "error: site: --weights nothing.safetensors is not a file");
    const noName = await site(dir, "out", "--weights", "x", "--template", "a video");
    assertEquals(noName.code, 2);
    assert(noName.err.startsWith('error: --template "a video" has no {name}'), noName.err);
    const noOut = await site(dir);
    assertEquals(noOut.code, 2);
    assert(noOut.err.startsWith("error: expected exactly one OUT folder"), noOut.err);
    assertEquals([...Deno.readDirSync(dir)], [], "nothing was written");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
