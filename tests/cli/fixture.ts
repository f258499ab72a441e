// Shared by the CLI tests: a tiny random model in the weight formats users hold, a few synthetic videos,
// and a way to run a CLI as its own process (its exit code and output are the contract).

import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import { generateSynthetic, type SyntheticSummary } from "../../lib/data/synthetic.ts";
import { exportPth } from "../../lib/models/weights/export-pth.ts";
import { clipConfig, initClipWeights, type Weights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { saveCheckpoint } from "../../lib/train/checkpoint.ts";

export const tiny = clipConfig("tiny");

export interface Fixture {
  rt: Runtime;
  dir: string;
  weights: Weights;
  /** vifi checkpoint of the tiny model */
  checkpoint: string;
  /** the same weights as a ViFi-CLIP .pth (no token table) and an OpenAI-named .pt */
  vifiPth: string;
  clipPt: string;
  data: SyntheticSummary;
  videos: string[];
}

export async function makeFixture(seed = 7): Promise<Fixture> {
  const rt = await getRuntime();
  const dir = await Deno.makeTempDir({ prefix: "vifi-cli-" });
  const weights = initClipWeights(tiny, seed, { randomNorms: true });
  const model = ViFiClip.fromWeights(rt, tiny, weights, "frozen");
  const checkpoint = `${dir}/tiny.safetensors`;
  await saveCheckpoint(checkpoint, model);
  await exportPth(model, `${dir}/vifi.pth`, { naming: "vifi", extra: { epoch: 3 } });
  await exportPth(model, `${dir}/clip.pt`, { naming: "openai" });
  model.dispose();
  const data = await generateSynthetic(`${dir}/data`, {
    seed,
    clipsPerClass: 1,
    frames: 8,
    size: 32,
    colours: ["red", "blue"],
    shapes: ["circle"],
    motions: ["left", "up"],
  });
  const videos = data.clips.map((c) => `${dir}/data/${c.path}`);
  return {
    rt,
    dir,
    weights,
    checkpoint,
    vifiPth: `${dir}/vifi.pth`,
    clipPt: `${dir}/clip.pt`,
    data,
    videos,
  };
}

export { runCli } from "../run_cli.ts";

export function expect(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}
