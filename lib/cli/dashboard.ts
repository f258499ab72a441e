// `deno task dashboard [--db FILE] [--port N] [--host H]`: the results database as web pages
// (leaderboards, runs, run pages, predict). Binds 127.0.0.1 unless told otherwise: the pages show file
// paths and configurations and the predict form reads files on this machine, so exposing it is a choice.

import { parseArgs } from "node:util";
import { existsSync } from "node:fs";
import { defaultResultsPath, ResultsStore } from "../results/store.ts";
import { createDashboard } from "../../web/server.tsx";
import { buildIslands } from "../../web/bundle.ts";
import { predictRoutes } from "../../web/predict.tsx";
import { shellLayout } from "../../web/html.tsx";
import { allowedHostsFor } from "../../web/guard.ts";

const USAGE = `usage: deno task dashboard [--db FILE] [--port N] [--host H]
  --db FILE   results database (default: $VIFI_RESULTS or runs/results.db)
  --port N    default 8000; 0 picks a free port
  --host H    default 127.0.0.1; anything else exposes the dashboard (and its predict form) to the network`;

export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      allowPositionals: false,
      options: {
        db: { type: "string" },
        port: { type: "string", default: "8000" },
        host: { type: "string", default: "127.0.0.1" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (e) {
    console.error(`dashboard: ${e instanceof Error ? e.message : e}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`dashboard: --port must be 0..65535, got ${values.port}`);
    return 2;
  }
  const path = values.db ?? defaultResultsPath();
  if (!existsSync(path)) console.error(`dashboard: no database at ${path} yet; starting with an empty one`);
  const store = ResultsStore.open(path);
  const bundle = await buildIslands();
  console.error(`dashboard: islands bundle ${bundle.bytes} bytes in ${bundle.ms.toFixed(0)} ms`);
  const predict = predictRoutes({ store, layout: shellLayout("/predict") });
  // filled in once the port is known (--port 0 picks one); until then every request is refused
  let hosts: readonly string[] = [];
  const dash = createDashboard({ store, path, islandsJs: bundle.js, predict, allowedHosts: () => hosts });
  const loopback = ["127.0.0.1", "localhost", "::1"].includes(values.host);
  if (!loopback) {
    console.error(
      `dashboard: WARNING: listening on ${values.host}, not loopback: anyone who can reach this machine can ` +
        `read every run and use the predict form (which reads files on this machine). There is no login.`,
    );
  }
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: values.host,
    port,
    signal: ac.signal,
    onListen: ({ hostname, port }) => {
      hosts = [...new Set([...allowedHostsFor(values.host, port), ...allowedHostsFor(hostname, port)])];
      const h = hostname.includes(":") ? `[${hostname}]` : hostname;
      console.log(`dashboard: http://${h}:${port}/ (database ${path})`);
    },
  }, dash.app.fetch);
  const stop = () => {
    dash.close();
    ac.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
  store.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
