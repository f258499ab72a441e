// vifi's exportPth files opened by real PyTorch: the OpenAI naming through load_state_dict(strict=True) into
// a CLIP module, the ViFi-CLIP layout through the upstream's non-strict load into its DDP-wrapped model
// (tests/torch/vifi_torch.py `load`); every tensor must arrive unchanged.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { exportPth, modelWeights } from "../../lib/models/weights/export-pth.ts";
import { type ClipConfig, initClipWeights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { runTorch, skipWithoutTorch, writeRaw } from "./torch_env.ts";

const ignore = skipWithoutTorch("torch export tests");

const config: ClipConfig = {
  name: "torch-export",
  embedDim: 16,
  vision: { width: 32, layers: 2, heads: 2, patch: 8, resolution: 32 },
  text: { width: 32, layers: 2, heads: 2, context: 16, vocab: 64 },
};

Deno.test(
  { name: "exportPth → torch.load: OpenAI naming strictly, ViFi layout as upstream", ignore },
  async () => {
    const rt = await getRuntime();
    const model = ViFiClip.fromWeights(
      rt,
      config,
      initClipWeights(config, 21, { randomNorms: true }),
      "both",
    );
    const dir = await Deno.makeTempDir({ prefix: "vifi-torch-export-" });
    try {
      Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
      writeRaw(dir, "weights", await modelWeights(model));
      await exportPth(model, `${dir}/openai.pt`, { naming: "openai" });
      await exportPth(model, `${dir}/vifi.pth`, { naming: "vifi", extra: { epoch: 4 } });
      const report = JSON.parse(await runTorch("load", dir)) as {
        openai: number;
        vifi: number;
        epoch: number;
      };
      // OpenAI: every parameter; ViFi: all but the token table, which the upstream never saves.
      const n = [...(await modelWeights(model)).keys()].length;
      if (report.openai !== n || report.vifi !== n - 1 || report.epoch !== 4) {
        throw new Error(`torch loaded ${JSON.stringify(report)}; expected ${n} / ${n - 1} tensors, epoch 4`);
      }
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
