// `deno task dashboard [--db FILE] [--port N] [--host H] [--weights-dir DIR]`: the results database as
// web pages (leaderboards, runs, run pages, predict). Binds 127.0.0.1 unless told otherwise: the pages show
// file paths and configurations, so exposing it is a choice. The predict form opens only the store's
// checkpoints and the files of --weights-dir; requests must name this server (Host, Origin).

import { parseArgs } from "node:util";
import { absentStoreFile, defaultResultsPath, ResultsStore } from "../results/store.ts";
import { createDashboard } from "../../web/server.tsx";
import { buildIslands } from "../../web/bundle.ts";
import { predictRoutes } from "../../web/predict.tsx";
import { shellLayout } from "../../web/html.tsx";
import { allowedHostsFor } from "../../web/guard.ts";
import { intArg } from "./args.ts";

const USAGE = `usage: deno task dashboard [--db FILE] [--port N] [--host H] [--weights-dir DIR]
  --db FILE|URL      results database: a SQLite file or postgres://… (default: $VIFI_RESULTS or runs/results.db)
  --port N           default 8000; 0 picks a free port
  --host H           default 127.0.0.1; anything else exposes the dashboard (and its predict form) to the network
  --weights-dir DIR  the predict form may also use the weights files in DIR (besides the store's checkpoints)`;

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
        "weights-dir": { type: "string" },
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
  let port = 0;
  try {
    port = intArg(values.port, "port", 0, 0);
    if (port > 65535) throw new Error(`--port must be a decimal integer 0..65535, got ${values.port}`);
  } catch (e) {
    console.error(`dashboard: ${(e as Error).message}`);
    return 2;
  }
  const weightsDir = values["weights-dir"];
  if (weightsDir !== undefined && !(await isDirectory(weightsDir))) {
    console.error(`dashboard: --weights-dir ${weightsDir} is not a folder`);
    return 2;
  }
  const path = values.db ?? defaultResultsPath();
  if (absentStoreFile(path) !== undefined) {
    console.error(`dashboard: no database at ${path} yet; starting with an empty one`);
  }
  // opening marks failed the runs whose process is gone, which would otherwise show as running forever
  const store = ResultsStore.open(path);
  if (store.recovered.length) {
    console.error(
      `dashboard: marked ${store.recovered.length} dead run(s) failed: ${store.recovered.join(", ")}`,
    );
  }
  const bundle = await buildIslands();
  console.error(`dashboard: islands bundle ${bundle.bytes} bytes in ${bundle.ms.toFixed(0)} ms`);
  const predict = predictRoutes({ store, weightsDir, layout: shellLayout("/predict") });
  // the predict page's in-browser bundle (~0.5 MB, a second or so to build) is built now, not for its first visitor
  predict.warmBrowser();
  // filled in once the port is known (--port 0 picks one); until then every request is refused
  let hosts: readonly string[] = [];
  const dash = createDashboard({
    store,
    path: store.path, // a URL's password redacted
    islandsJs: bundle.js,
    predict: predict.app,
    allowedHosts: () => hosts,
  });
  const loopback = ["127.0.0.1", "localhost", "::1"].includes(values.host);
  if (!loopback) {
    console.error(
      `dashboard: WARNING: listening on ${values.host}, not loopback: anyone who can reach this machine can ` +
        `read every run and use the predict form (which reads files on this machine). There is no login.`,
    );
  }
  const ac = new AbortController();
  const host: string = values.host;
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: host,
      port,
      signal: ac.signal,
      onListen: ({ hostname, port }) => {
        hosts = [...new Set([...allowedHostsFor(host, port), ...allowedHostsFor(hostname, port)])];
        const h = hostname.includes(":") ? `[${hostname}]` : hostname;
        console.log(`dashboard: http://${h}:${port}/ (database ${store.path})`);
      },
    }, dash.app.fetch);
  } catch (e) {
    dash.close(), predict.close(), store.close();
    const why = e instanceof Deno.errors.AddrInUse
      ? `port ${port} on ${host} is in use (pick another with --port, or --port 0 for a free one)`
      : `cannot listen on ${host}:${port}: ${(e as Error).message}`;
    console.error(`dashboard: ${why}`);
    return 1;
  }
  // SIGTERM (a service manager, `kill`) stops it exactly as Ctrl-C does: open event streams end, the
  // prediction worker stops, the server drains and the database is closed
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const stop = () => {
    for (const s of signals) Deno.removeSignalListener(s, stop);
    dash.close();
    predict.close();
    ac.abort();
  };
  for (const s of signals) Deno.addSignalListener(s, stop);
  await server.finished;
  store.close();
  console.error("dashboard: stopped");
  return 0;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
