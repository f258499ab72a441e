// `deno task export`: a model as an ONNX graph (lib/models/weights/onnx-export.ts) for runtimes without vifi —
// the whole ViFi-CLIP logits graph, or one tower. The written file is then run by onnxruntime-web on a
// random input and compared with vifi's own forward, so a file that does not compute what vifi
// computes is reported rather than shipped silently. Exit codes: 0 fine, 1 unreadable weights or a
// failed check, 2 usage.

import { parseArgs } from "node:util";
import { Tape } from "../autograd/tape.ts";
import { writeFileAtomic } from "../io/atomic-write.ts";
import { exportImageTower, exportTextTower, exportVifiLogits } from "../models/weights/onnx-export.ts";
import { loadOrt, randomTokens } from "../models/parity.ts";
import { relErr } from "../selftest/check.ts";
import { Rng } from "../random/rng.ts";
import { Tensor } from "../tensor/tensor.ts";
import { positiveArg } from "./args.ts";
import { frozenModel, type ModelChoice, promptsFor } from "../predict/predict.ts";
import { intArg, reportError, UsageError } from "./args.ts";
import { labelsFrom, MODEL_OPTIONS, modelChoice } from "./model-options.ts";

const USAGE = `usage:
  deno task export --weights FILE --out model.onnx [--what logits|image|text] [--frames T] [--batch B]
                   [--labels "a,b" | --labels-file CSV | --classes C] [--template S] [--clip-weights FILE]
                   [--vocab FILE] [--tokenizer clip|bytes] [--head-width N] [--tolerance X] [--no-verify]
                   [--json]
      logits: inputs frames float [B, T, 3, R, R], tokens int64 [C, context] → logits [B, C],
              video_embeds [B, E], text_embeds_normalized [C, E]
      image:  frames float [T, 3, R, R] → image_embeds [T, E] (projected, not normalised)
      text:   tokens int64 [C, context] → text_embeds [C, E] (projected, not normalised)
      --labels is comma-separated with CSV quoting ('"a, b",c'), --labels-file a label CSV (id,name).
      The shapes are fixed; C is the number of labels (or --classes). The file is then run with
      onnxruntime-web on random frames (and the labels' prompt tokens, else random tokens) and
      compared with vifi: exit 1 when the relative error ‖onnx − vifi‖/‖vifi‖ exceeds --tolerance
      (default 1e-4)`;

export type ExportWhat = "logits" | "image" | "text";

export interface ExportOptions extends Omit<ModelChoice, "precision"> {
  out: string;
  what: ExportWhat;
  frames: number;
  batch?: number;
  /** class count when there are no labels */
  classes?: number;
  labels?: string[];
  verify?: boolean;
  seed?: number;
}

export interface ExportResult {
  out: string;
  bytes: number;
  inputs: Record<string, number[]>;
  /** relative error per output (‖onnx − vifi‖/‖vifi‖), when verified */
  check?: Record<string, number>;
  maxRelErr?: number;
}

export async function exportOnnx(opts: ExportOptions): Promise<ExportResult> {
  // ONNX graphs are f32; the parity check compares against the same precision
  const loaded = await frozenModel({ ...opts, precision: "f32" });
  const { model, config } = loaded;
  const rt = model.clip.rt;
  try {
    if (model.clip.prompts) {
      throw new Error(
        `vifi: ${opts.weights} has learned prompts, which the ONNX exporter does not write; export the ` +
          "CLIP weights without them",
      );
    }
    const weights = await model.clip.weights();
    const B = opts.batch ?? 1, T = opts.frames;
    const C = opts.labels?.length ?? opts.classes ?? 0;
    if (opts.what !== "image" && C < 1) {
      throw new UsageError(`--what ${opts.what} needs --labels or --classes`);
    }
    const R = config.vision.resolution, ctx = config.text.context;
    const onnx = opts.what === "logits"
      ? exportVifiLogits(config, weights, { batch: B, frames: T, classes: C })
      : opts.what === "image"
      ? exportImageTower(config, weights, { frames: T })
      : exportTextTower(config, weights, { classes: C });
    await writeFileAtomic(opts.out, onnx);
    const frameShape = opts.what === "logits" ? [B, T, 3, R, R] : [T, 3, R, R];
    const inputs: Record<string, number[]> = {};
    if (opts.what !== "text") inputs.frames = frameShape;
    if (opts.what !== "image") inputs.tokens = [C, ctx];
    const result: ExportResult = { out: opts.out, bytes: onnx.length, inputs };
    if (opts.verify === false) return result;

    const rng = new Rng(opts.seed ?? 0);
    const frames = rng.normals(frameShape.reduce((a, b) => a * b, 1));
    const tokens = opts.what === "image"
      ? new Int32Array(0)
      : opts.labels
      ? (await promptsFor(loaded, opts.labels, opts)).tokens
      : randomTokens(config, C, rng);
    const ours: Record<string, Float32Array> = {};
    const tf = opts.what === "text" ? undefined : Tensor.from(rt, frames, frameShape, "f32", "frames");
    const tape = new Tape();
    try {
      if (opts.what === "logits") {
        const o = await model.embed(tf!, tokens, C);
        ours.logits = o.logits;
        ours.video_embeds = o.video;
        ours.text_embeds_normalized = o.text;
      } else if (opts.what === "image") {
        ours.image_embeds = Float32Array.from(await (await model.clip.encodeImage(tape, tf!)).value.read());
      } else {
        ours.text_embeds = Float32Array.from(
          await (await model.clip.encodeText(tape, tokens, C)).value.read(),
        );
      }
    } finally {
      tape.dispose();
      tf?.dispose();
    }

    const ort = await loadOrt();
    const feeds: Record<string, unknown> = {};
    if (inputs.frames) feeds.frames = new ort.Tensor("float32", Float32Array.from(frames), frameShape);
    if (inputs.tokens) {
      feeds.tokens = new ort.Tensor("int64", BigInt64Array.from(tokens, (x) => BigInt(x)), [C, ctx]);
    }
    // The file as written, not the in-memory graph: what a user will load.
    const session = await ort.InferenceSession.create(await Deno.readFile(opts.out));
    try {
      const got = await session.run(feeds);
      result.check = {};
      for (const [name, want] of Object.entries(ours)) {
        const o = got[name] as { data: Float32Array } | undefined;
        if (!o) throw new Error(`vifi: ${opts.out} has no output ${name}`);
        result.check[name] = relErr(o.data, want);
      }
    } finally {
      await session.release();
    }
    const errs = Object.values(result.check);
    result.maxRelErr = errs.some((e) => !(e >= 0)) ? NaN : Math.max(...errs);
    return result;
  } finally {
    model.dispose();
  }
}

export async function main(args: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args,
      options: {
        ...MODEL_OPTIONS,
        out: { type: "string", short: "o" },
        what: { type: "string" },
        batch: { type: "string" },
        classes: { type: "string" },
        tolerance: { type: "string" },
        "no-verify": { type: "boolean" },
        json: { type: "boolean" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const { precision: _, ...model } = modelChoice(values);
    if (!values.out) throw new UsageError("--out FILE.onnx is required");
    const what = values.what ?? "logits";
    if (what !== "logits" && what !== "image" && what !== "text") {
      throw new UsageError(`--what must be logits, image or text, got "${what}"`);
    }
    const labels = await labelsFrom(values.labels, values["labels-file"]);
    if (labels && values.classes !== undefined) throw new UsageError("give --labels or --classes, not both");
    const tolerance = positiveArg(values.tolerance, "tolerance", 1e-4);
    const r = await exportOnnx({
      ...model,
      out: values.out,
      what,
      frames: intArg(values.frames, "frames", 8, 1),
      batch: intArg(values.batch, "batch", 1, 1),
      classes: values.classes === undefined ? undefined : intArg(values.classes, "classes", 1, 1),
      labels,
      verify: !values["no-verify"],
    });
    const ok = r.maxRelErr === undefined || r.maxRelErr <= tolerance;
    if (values.json) {
      console.log(JSON.stringify({ ...r, tolerance, ok }));
    } else {
      const ins = Object.entries(r.inputs).map(([k, s]) => `${k} [${s.join(", ")}]`).join(", ");
      console.log(`${r.out}: ${what}, ${(r.bytes / 2 ** 20).toFixed(2)} MiB, inputs ${ins}`);
      if (r.check) {
        for (const [k, e] of Object.entries(r.check)) {
          console.log(`  ${k.padEnd(24)} rel. error ${e.toExponential(2)}`);
        }
        console.log(
          `onnxruntime-web vs vifi: max relative error ${r.maxRelErr!.toExponential(2)} ` +
            `(tolerance ${tolerance}) ${ok ? "ok" : "FAILED"}`,
        );
      }
    }
    return ok ? 0 : 1;
  } catch (e) {
    return reportError(e, USAGE);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
