// Back to the PyTorch world: a model's weights as a torch.save state dict, in OpenAI CLIP naming
// (loads into openai/CLIP's model) or ViFi-CLIP's checkpoint layout ({"model": {"module.…": …}},
// without the token embedding, like the released files).

import type { ViFiClip } from "../vifi.ts";
import { promptShapes, type Weights } from "../config.ts";
import { fromModelNames } from "./keymap.ts";
import { type WritableTensor, writeTorchStateDict } from "../../io/torch.ts";
import { writeFileAtomic } from "../../io/atomic-write.ts";

export interface ExportPthOptions {
  naming: "openai" | "vifi";
  /** storage type in the file (OpenAI releases are f16); default f32 */
  dtype?: "f32" | "f16";
  /** top-level entries beside the state dict (ViFi layout), e.g. { epoch: 10, max_accuracy: 83.9 } */
  extra?: Record<string, number | string>;
}

/** The model's current weights (and prompts) by model name, read back from the GPU. */
export async function modelWeights(model: ViFiClip): Promise<Weights> {
  const w = await model.clip.weights();
  if (model.clip.prompts) {
    for (const [name, shape] of promptShapes(model.config, model.clip.prompts)) {
      w.set(name, { shape, data: Float32Array.from(await model.clip.p(name).value.read()) });
    }
  }
  return w;
}

export async function exportPth(model: ViFiClip, path: string, opts: ExportPthOptions): Promise<void> {
  const named = fromModelNames(await modelWeights(model), opts.naming);
  const tensors = new Map<string, WritableTensor>();
  for (const [name, t] of named) {
    tensors.set(name, { dtype: opts.dtype ?? "f32", shape: t.shape, data: t.data });
  }
  const bytes = writeTorchStateDict(tensors, {
    wrapIn: opts.naming === "vifi" ? "model" : undefined,
    extra: opts.extra,
  });
  await writeFileAtomic(path, bytes);
}
