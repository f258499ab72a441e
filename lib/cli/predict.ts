// `deno task predict VIDEO`: the upstream's custom-video notebook as a command — class names in, the
// most likely classes out. The video goes through the test pipeline (segment-centre frames, short side
// 256/224 · R, centre or three crops, ImageNet normalisation; docs/upstream.md §7.3), every view is scored and the
// per-view softmax probabilities are averaged (docs/upstream.md §9). Exit codes: 0 fine, 1 a file could not be
// read or does not fit, 2 usage.

import { parseArgs } from "node:util";
import { predict } from "../predict/predict.ts";
import { intArg, reportError, UsageError } from "./args.ts";
import { labelsFrom, MODEL_OPTIONS, modelChoice } from "./model-options.ts";
import { LIMITS_USAGE } from "../video/limits.ts";
import { promptOverlay, readPromptFile } from "../browser/prompt-file.ts";

const USAGE = `usage:
  deno task predict VIDEO --weights FILE (--labels "a,b,c" | --labels-file CSV) [--frames T]
                    [--clips N] [--crops 1|3] [--seed S] [--top K] [--template S] [--clip-weights FILE]
                    [--vocab FILE] [--tokenizer clip|bytes] [--head-width N] [--precision f32|f16|auto]
                    [--prompts FILE] [--json]
      the K (default 5) most likely labels with their probabilities: the softmax of the cosine logits
      (× exp(logit_scale)) per view, averaged over the clips·crops views
  --weights       OpenAI CLIP (.pt), ViFi-CLIP checkpoint (.pth, needs --clip-weights for the token
                  table), Hugging Face safetensors or a vifi checkpoint
  --labels        class names separated by commas, CSV quoting for names with commas: '"a, b",c'
  --labels-file   a label CSV (id,name) as the upstream's labels/*.csv
  --prompts       learned prompts (a prompts file from the page's prompt tuning) for the frozen --weights
                  they were learned on; their class names and template are the defaults of --labels and
                  --template
  --template      prompt per class, "{name}" is replaced (default "a photo of a {name}."; a model with
                  learned text prompts uses "{name}." after its placeholders)
  --json          prints {"predictions": [{"label", "prob"}, …]}
  ${LIMITS_USAGE}`;

export async function main(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...MODEL_OPTIONS,
        clips: { type: "string" },
        crops: { type: "string" },
        seed: { type: "string" },
        top: { type: "string" },
        json: { type: "boolean" },
        prompts: { type: "string" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError("expected exactly one VIDEO");
    const model = modelChoice(values);
    const learned = values.prompts === undefined ? undefined : await readPrompts(values.prompts);
    if (learned) {
      model.prompts = promptOverlay(learned, values.prompts!);
      model.template ??= learned.template;
    }
    const labels = await labelsFrom(values.labels, values["labels-file"]) ?? learned?.classes;
    if (!labels) throw new UsageError("give the class names with --labels or --labels-file");
    const crops = intArg(values.crops, "crops", 1, 1);
    if (crops !== 1 && crops !== 3) {
      throw new UsageError(`--crops must be 1 or 3 (docs/upstream.md §7.3), got ${crops}`);
    }
    const r = await predict(positionals[0], {
      ...model,
      labels,
      frames: intArg(values.frames, "frames", 8, 1),
      clips: intArg(values.clips, "clips", 1, 1),
      crops,
      seed: intArg(values.seed, "seed", 0, 0),
      top: intArg(values.top, "top", 5, 1),
    });
    if (values.json) {
      console.log(JSON.stringify({ predictions: r.predictions }));
    } else {
      console.log(
        `${positionals[0]}: ${r.frames} frames × ${r.views} view${r.views > 1 ? "s" : ""}, ` +
          `${labels.length} classes, prompt ${JSON.stringify(r.template)}`,
      );
      const width = Math.max(...r.predictions.map((p) => p.label.length));
      r.predictions.forEach((p, i) => {
        console.log(`${String(i + 1).padStart(3)}. ${p.label.padEnd(width)}  ${(100 * p.prob).toFixed(2)} %`);
      });
    }
    return 0;
  } catch (e) {
    return reportError(e, USAGE);
  }
}

/** A prompts file's bytes, parsed; an unreadable one is a one-line error naming it. */
async function readPrompts(path: string) {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`vifi: cannot read prompts ${path}: ${(e as Error).message}`);
  }
  return readPromptFile(bytes, path);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
