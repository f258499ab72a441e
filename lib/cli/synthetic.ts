// `deno task synthetic DIR [--seed S] [--clips-per-class N] [--frames T] [--size PX] [--json]`:
// writes the built-in synthetic video dataset (H.264 MP4s of coloured shapes in motion, label CSV,
// train/val lists, base-to-novel split) in the upstream layout. A folder that is not empty is refused unless
// --force: a second run would silently replace a dataset that runs may have been trained on.

import { parseArgs } from "node:util";
import { generateSynthetic } from "../data/synthetic.ts";
import { intArg, UsageError } from "./args.ts";

/** A dataset (or anything else) already in `dir` is not overwritten without --force. */
async function refuseNonEmpty(dir: string): Promise<void> {
  let entries: AsyncIterable<Deno.DirEntry>;
  try {
    entries = Deno.readDir(dir);
    for await (const _ of entries) {
      throw new Error(`${dir} is not empty (a dataset is there?); give --force to write over it`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if (e instanceof Deno.errors.NotADirectory) throw new Error(`${dir} is a file, not a folder`);
    throw e;
  }
}

export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        seed: { type: "string", default: "0" },
        "clips-per-class": { type: "string", default: "6" },
        frames: { type: "string", default: "16" },
        size: { type: "string", default: "64" },
        json: { type: "boolean", default: false },
        force: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    console.error(`synthetic: ${e instanceof Error ? e.message : e}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length !== 1) {
    console.error(
      "usage: deno task synthetic DIR [--seed S] [--clips-per-class N] [--frames T] [--size PX] [--json] " +
        "[--force]\n  --force  write into a DIR that is not empty (files of the same names are replaced)",
    );
    return values.help ? 0 : 2;
  }
  let options;
  try {
    options = {
      seed: intArg(values.seed, "seed", 0, 0),
      clipsPerClass: intArg(values["clips-per-class"], "clips-per-class", 6, 1),
      frames: intArg(values.frames, "frames", 16, 1),
      size: intArg(values.size, "size", 64, 16),
    };
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`synthetic: ${e.message}`);
    return 2;
  }
  try {
    if (!values.force) await refuseNonEmpty(positionals[0]);
    const s = await generateSynthetic(positionals[0], options);
    const summary = {
      dir: s.dir,
      seed: s.seed,
      classes: s.classes.length,
      base: s.baseClasses.length,
      novel: s.novelClasses.length,
      clips: s.clips.length,
      frames: s.frames,
      size: s.size,
      bytes: s.bytes,
      seconds: s.seconds,
    };
    if (values.json) console.log(JSON.stringify(summary));
    else {
      console.log(
        `wrote ${summary.clips} clips (${summary.classes} classes: ${summary.base} base, ${summary.novel} novel), ` +
          `${summary.frames} frames of ${summary.size}², ${(summary.bytes / 2 ** 20).toFixed(1)} MiB in ` +
          `${summary.seconds.toFixed(1)} s → ${summary.dir}`,
      );
    }
    return 0;
  } catch (e) {
    console.error(`synthetic: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
