// `deno task dashboard` as a process: loopback by default and silent about it; any other --host is
// served with a warning on stderr; SIGTERM stops it.

import { assert, assertEquals } from "../data/assert.ts";
import { runCli } from "../run_cli.ts";
import { startDashboard } from "./dashboard_process.ts";

/** The dashboard over a store in a temp folder of its own, removed when it stops. */
async function start(...args: string[]) {
  const dir = await Deno.makeTempDir({ prefix: "vifi-dash-cli-" });
  const dash = await startDashboard(["--db", `${dir}/r.db`, ...args]);
  return {
    ...dash,
    stop: async () => {
      const status = await dash.stop();
      await Deno.remove(dir, { recursive: true });
      return status;
    },
  };
}

/** One HTTP/1.1 request written by hand (fetch would set its own Host); the whole answer as text. */
async function rawHttp(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(`${head}\r\nConnection: close\r\n\r\n`));
  let text = "";
  for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) text += chunk;
  return text;
}

Deno.test("dashboard CLI: 127.0.0.1 by default without a warning; another --host warns; SIGTERM stops it", async () => {
  const local = await start("--port", "0");
  try {
    assertEquals(local.host, "127.0.0.1");
    const r = await fetch(`http://127.0.0.1:${local.port}/`);
    assertEquals(r.status, 200);
    await r.body?.cancel();
    assert(!local.err().includes("WARNING"), local.err());
    assertEquals(r.headers.get("x-frame-options"), "DENY");
    assert((r.headers.get("content-security-policy") ?? "").includes("default-src 'self'"));
    // a DNS-rebound name reaching the loopback port, and a cross-site form post, are refused
    const rebound = await rawHttp(local.port, "GET / HTTP/1.1\r\nHost: evil.example:" + local.port);
    assert(rebound.startsWith("HTTP/1.1 403"), rebound.slice(0, 200));
    assert(rebound.includes("is not an address this dashboard was started on"), rebound);
    const ok = await rawHttp(local.port, `GET / HTTP/1.1\r\nHost: localhost:${local.port}`);
    assert(ok.startsWith("HTTP/1.1 200"), ok.slice(0, 200));
    const post = await fetch(`http://127.0.0.1:${local.port}/predict`, {
      method: "POST",
      headers: { origin: "http://evil.example", "content-type": "multipart/form-data; boundary=x" },
      body: "--x--\r\n",
    });
    assertEquals(post.status, 403);
    assert((await post.text()).includes("from another site"));
  } finally {
    assertEquals((await local.stop()).success, true);
  }
  const open = await start("--port", "0", "--host", "0.0.0.0");
  try {
    assert(/WARNING: listening on 0\.0\.0\.0, not loopback/.test(open.err()), open.err());
    const r = await fetch(`http://127.0.0.1:${open.port}/`);
    assertEquals(r.status, 200);
    await r.body?.cancel();
  } finally {
    await open.stop();
  }
});

Deno.test("dashboard CLI: a run whose process died shows failed; SIGTERM with a stream open stops it cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-dash-dead-" });
  const db = `${dir}/results.db`;
  try {
    // another process starts a run and ends without finishing it (as a kill -9 would leave it)
    const storeUrl = new URL("../../lib/results/store.ts", import.meta.url).href;
    const code = `import { ResultsStore } from ${JSON.stringify(storeUrl)};
      const s = ResultsStore.open(${JSON.stringify(db)});
      s.startRun({ experiment: "killed", protocol: { kind: "custom" }, variant: "both", config: {}, commit: null,
        seed: 0, device: "test" });
      s.close();`;
    const child = await new Deno.Command(Deno.execPath(), { args: ["eval", code], stderr: "piped" }).output();
    assert(child.success, new TextDecoder().decode(child.stderr));
    const dash = await start("--port", "0", "--db", db);
    let stopped = false;
    try {
      const page = await (await fetch(`http://127.0.0.1:${dash.port}/runs`)).text();
      assert(/<tr data-run="1">[\s\S]*?status-failed/.test(page), "the dead run is not shown failed");
      assert(dash.err().includes("marked 1 dead run(s) failed: 1"), dash.err());
      // an open event stream must not keep the server from stopping
      const events = await fetch(`http://127.0.0.1:${dash.port}/api/runs/events?ids=1`);
      const reader = events.body!.getReader();
      await reader.read();
      const status = await dash.stop();
      stopped = true;
      assertEquals(status.code, 0, "exit code after SIGTERM");
      assert(dash.err().includes("dashboard: stopped"), dash.err());
      await reader.cancel().catch(() => {});
    } finally {
      if (!stopped) await dash.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dashboard CLI: --weights-dir must be a folder", async () => {
  const r = await runCli("dashboard", "--weights-dir", "/no/such");
  assertEquals(r.code, 2);
  assertEquals(r.err.trim(), "dashboard: --weights-dir /no/such is not a folder");
});

Deno.test("dashboard CLI: a port in use is one line and exit 1, not a stack trace", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir({ prefix: "vifi-dash-port-" });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const r = await runCli("dashboard", "--db", `${dir}/r.db`, "--port", String(port));
    const err = r.err.trim().split("\n");
    assertEquals(r.code, 1);
    assertEquals(
      err.at(-1),
      `dashboard: port ${port} on 127.0.0.1 is in use (pick another with --port, or --port 0 for a free one)`,
    );
    assert(!err.some((l) => /^\s+at /.test(l)), err.join("\n"));
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});
