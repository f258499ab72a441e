// Export to .pth and read it back with our own loader: identical tensors in both namings.

import { getRuntime } from "../../../lib/gpu/runtime.ts";
import { exportPth, modelWeights } from "../../../lib/models/weights/export-pth.ts";
import { loadWeights } from "../../../lib/models/weights/load.ts";
import { clipConfig, initClipWeights, initPromptWeights, type Weights } from "../../../lib/models/config.ts";
import { ViFiClip } from "../../../lib/models/vifi.ts";

const tiny = clipConfig("tiny");

function same(a: Weights, b: Weights, what: string) {
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u) throw new Error(`${what}: ${name} missing after the round trip`);
    if (u.data.length !== t.data.length || u.data.some((v, i) => v !== t.data[i])) {
      throw new Error(`${what}: ${name} differs after the round trip`);
    }
  }
}

Deno.test("export .pth (OpenAI naming, f32) → loadWeights gives identical tensors", async () => {
  const rt = await getRuntime();
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, 4, { randomNorms: true }), "both");
  const dir = await Deno.makeTempDir();
  const path = `${dir}/clip.pt`;
  await exportPth(model, path, { naming: "openai" });
  const loaded = await loadWeights(path, { headWidth: 16 });
  if (loaded.naming !== "openai" || loaded.format !== "torch-zip") {
    throw new Error(`${loaded.naming} ${loaded.format}`);
  }
  same(await modelWeights(model), loaded.weights, "openai");
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("export .pth (ViFi-CLIP layout with prompts) → loadWeights with the CLIP token table", async () => {
  const rt = await getRuntime();
  const weights = initClipWeights(tiny, 5, { randomNorms: true });
  const model = ViFiClip.fromWeights(rt, tiny, weights, "frozen");
  const prompts = { textCtx: 2, visionCtx: 3, textDepth: 2, visionDepth: 2 };
  model.clip.addPrompts(prompts, initPromptWeights(tiny, prompts, 6));
  const dir = await Deno.makeTempDir();
  await exportPth(model, `${dir}/clip.pt`, { naming: "openai" });
  await exportPth(model, `${dir}/vifi.pth`, { naming: "vifi", extra: { epoch: 11 } });
  const loaded = await loadWeights(`${dir}/vifi.pth`, { clipWeights: `${dir}/clip.pt`, headWidth: 16 });
  if (loaded.naming !== "vifi") throw new Error(`naming ${loaded.naming}`);
  const all = await modelWeights(model);
  const clipPart = new Map([...all].filter(([n]) => !n.includes("VPT") && !n.includes("prompt_learner")));
  same(clipPart, loaded.weights, "vifi");
  if (!loaded.prompts) throw new Error("prompt tensors not found in the exported ViFi file");
  same(
    new Map([...all].filter(([n]) => n.includes("VPT") || n.includes("prompt_learner"))),
    loaded.prompts.weights,
    "prompts",
  );
  if (JSON.stringify(loaded.prompts.config) !== JSON.stringify(prompts)) {
    throw new Error(`prompt config inferred as ${JSON.stringify(loaded.prompts.config)}`);
  }
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});
