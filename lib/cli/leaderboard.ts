// `deno task leaderboard [--db FILE] [--protocol KIND] [--paper] [--json]`: our finished runs aggregated
// as the paper aggregates them (docs/upstream.md §9), beside the published numbers.

import { parseArgs } from "node:util";
import type { ProtocolKind } from "../dsl/types.ts";
import { formatLeaderboard, leaderboard } from "../results/leaderboard.ts";
import { absentStoreFile, defaultResultsPath, ResultsStore } from "../results/store.ts";

const KINDS: ProtocolKind[] = ["zero-shot", "base-to-novel", "few-shot", "fully-supervised", "custom"];
const USAGE =
  `usage: deno task leaderboard [--db FILE|URL] [--protocol KIND] [--paper] [--few-shot-epoch E] [--json]
  --db FILE|URL    results database: a SQLite file or postgres://… (default: $VIFI_RESULTS or runs/results.db)
  --protocol KIND  only ${KINDS.join(", ")}
  --paper          also list the paper's numbers we have no run for
  --few-shot-epoch final (default) or best: which epoch few-shot rows report (the other is in the notes)
  --json           rows as JSON instead of a table
Only finished runs count; "*" marks a number missing some of its splits or seeds.`;

export function main(args: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: false,
      options: {
        db: { type: "string" },
        protocol: { type: "string" },
        paper: { type: "boolean", default: false },
        "few-shot-epoch": { type: "string", default: "final" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    console.error(`leaderboard: ${e instanceof Error ? e.message : e}\n${USAGE}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const protocol = values.protocol as ProtocolKind | undefined;
  if (protocol !== undefined && !KINDS.includes(protocol)) {
    console.error(`leaderboard: unknown --protocol ${values.protocol}; one of ${KINDS.join(", ")}`);
    return 2;
  }
  const fewShotEpoch = values["few-shot-epoch"];
  if (fewShotEpoch !== "final" && fewShotEpoch !== "best") {
    console.error(`leaderboard: --few-shot-epoch is final or best, not ${fewShotEpoch}`);
    return 2;
  }
  const path = values.db ?? defaultResultsPath();
  // opening would create an empty database; a mistyped path should say so instead
  if (absentStoreFile(path) !== undefined) {
    console.error(`leaderboard: no results database at ${path} (--db FILE|URL or VIFI_RESULTS)`);
    return 2;
  }
  let store: ResultsStore;
  try {
    store = ResultsStore.open(path);
  } catch (e) {
    console.error(`leaderboard: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
  try {
    const rows = leaderboard(store, { protocol, includePaper: values.paper, fewShotEpoch });
    if (values.json) console.log(JSON.stringify(rows, null, 2));
    else console.log(formatLeaderboard(rows).trimEnd());
    return 0;
  } finally {
    store.close();
  }
}

if (import.meta.main) Deno.exit(main(Deno.args));
