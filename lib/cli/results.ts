// `deno task results copy --from SOURCE --to TARGET`: moves a whole results store (lib/results/copy.ts)
// between any two stores: a SQLite file (path or sqlite:FILE) or a PostgreSQL server (postgres://…).

import { parseArgs } from "node:util";
import { copyStore } from "../results/copy.ts";
import { absentStoreFile, ResultsStore, shownTarget } from "../results/store.ts";

const USAGE = `usage: deno task results copy --from SOURCE --to TARGET
  SOURCE, TARGET   a SQLite file (FILE or sqlite:FILE) or a PostgreSQL URL (postgres://user@host:port/db)
Copies every run of SOURCE with its steps, epochs, evaluations (per class, confusion, embeddings, maps) and
checkpoints into TARGET in one transaction, with new ids there. A run TARGET already holds (same host, pid,
start time and experiment) is skipped, so copying twice adds nothing. SOURCE is migrated to this version's
schema if older; nothing else in it changes.`;

function copy(from: string, to: string): number {
  // a mistyped source file would otherwise be created empty and "copied"
  if (absentStoreFile(from) !== undefined) {
    console.error(`results copy: no results store at ${shownTarget(from)} (--from)`);
    return 2;
  }
  let src: ResultsStore | undefined, dst: ResultsStore | undefined;
  try {
    // recover: false — copying reports the stores as they are, it does not mark anyone's runs failed
    src = ResultsStore.open(from, { recover: false });
    dst = ResultsStore.open(to, { recover: false });
    const t0 = performance.now();
    const n = copyStore(src, dst);
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(
      `copied ${n.runs} run(s) from ${src.path} to ${dst.path} in ${s} s: ${n.steps} steps, ${n.epochs} epochs, ` +
        `${n.evals} evals (${n.classResults} class rows, ${n.confusions} confusion, ${n.embeddings} embeddings, ` +
        `${n.embeddingMaps} maps), ${n.checkpoints} checkpoints`,
    );
    if (n.skipped.size) {
      const list = [...n.skipped].slice(0, 20).map(([a, b]) => `${a}→${b}`).join(", ");
      console.log(
        `skipped ${n.skipped.size} run(s) already in ${dst.path} (source id→target id): ${list}` +
          (n.skipped.size > 20 ? ", …" : ""),
      );
    }
    return 0;
  } catch (e) {
    console.error(`results copy: ${(e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ")}`);
    return 1;
  } finally {
    src?.close();
    dst?.close();
  }
}

export function main(args: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        from: { type: "string" },
        to: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    console.error(`results: ${e instanceof Error ? e.message : e}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== "copy") {
    console.error(`results: the command is copy, not ${positionals.join(" ") || "nothing"}\n${USAGE}`);
    return 2;
  }
  if (!values.from || !values.to) {
    console.error(`results copy: --from and --to are both needed\n${USAGE}`);
    return 2;
  }
  return copy(values.from, values.to);
}

if (import.meta.main) Deno.exit(main(Deno.args));
