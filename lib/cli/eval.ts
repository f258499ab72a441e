// `deno task eval EXPERIMENT`: the evaluations of an experiment (or an upstream config with
// --only_test semantics) on the weights it names or --weights, with --clips/--crops views. The
// options are train's (`--world-size` included, for a dry run's counts); see lib/cli/train.ts.

import { main } from "./train.ts";

if (import.meta.main) Deno.exit(await main(Deno.args, "eval"));
