// The worker behind the PostgreSQL results store (sql-postgres.ts): it holds the store's one connection
// through the npm `postgres` client and answers one request at a time, writing each answer into the
// SharedArrayBuffer the store's thread is blocked on (Atomics.wait) and waking it. Only this file imports
// the client, so nothing that uses a SQLite store (or loads mod.ts in a page) needs the package.
//
// The buffer: Int32 [0] state (0 waiting, 1 answered), [1] answer length, [2] heartbeat (bumped every
// 100 ms while this worker's event loop runs, so the blocked thread tells a dead worker from a slow
// query); the answer, v8-serialized, from byte 16. The buffer is growable: a large answer grows it.

import postgres from "npm:postgres@3.4.10";
import v8 from "node:v8";
import { parentPort } from "node:worker_threads";

export interface OpenRequest {
  op: "open";
  url: string;
  sab: SharedArrayBuffer;
  connectTimeoutS: number;
  lockTimeoutMs: number;
}
export type QueryRequest =
  | { op: "all" | "run"; sql: string; args: unknown[] }
  | { op: "many"; sql: string; argLists: unknown[][] }
  | { op: "exec"; sql: string }
  | { op: "close" };
export type Answer =
  | { ok: true; rows?: Record<string, unknown>[]; changes?: number }
  | { ok: false; message: string };

type Sql = ReturnType<typeof postgres>;
type Reserved = Awaited<ReturnType<Sql["reserve"]>>;

const HEADER_BYTES = 16; // sql-postgres.ts reads the answer from here
let sab: SharedArrayBuffer | undefined;
let ctl: Int32Array | undefined;
let sql: Sql | undefined;
let conn: Reserved | undefined;

function oneLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown })?.code;
  const s = m.replace(/\s+/g, " ").trim();
  return typeof code === "string" && !s.includes(code) && /^[A-Z0-9_]+$/.test(code) ? `${s} (${code})` : s;
}

function answer(a: Answer): void {
  if (!sab || !ctl) return;
  let bytes: Uint8Array;
  try {
    bytes = v8.serialize(a);
  } catch (e) {
    bytes = v8.serialize({ ok: false, message: `cannot pass the answer back: ${oneLine(e)}` });
  }
  if (sab.byteLength < HEADER_BYTES + bytes.length) {
    try {
      sab.grow(HEADER_BYTES + bytes.length);
    } catch (e) {
      bytes = v8.serialize({
        ok: false,
        message: `answer of ${bytes.length} bytes too large: ${oneLine(e)}`,
      });
    }
  }
  new Uint8Array(sab, HEADER_BYTES, bytes.length).set(bytes);
  Atomics.store(ctl, 1, bytes.length);
  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
}

// bytea comes back as a Buffer; the store wants plain Uint8Arrays (and v8.serialize keeps the type)
function plain(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map((r) => {
    const o: Record<string, unknown> = {};
    for (const k in r) {
      const v = r[k];
      o[k] = v instanceof Uint8Array ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v;
    }
    return o;
  });
}

async function open(m: OpenRequest): Promise<Answer> {
  sab = m.sab;
  ctl = new Int32Array(sab, 0, 4);
  setInterval(() => ctl && Atomics.add(ctl, 2, 1), 100);
  sql = postgres(m.url, {
    max: 1,
    idle_timeout: 0,
    connect_timeout: m.connectTimeoutS,
    fetch_types: false,
    onnotice: () => {},
    // a lock held by another writer is waited for this long, as SQLite's busy_timeout does
    connection: { application_name: "vifi", lock_timeout: m.lockTimeoutMs },
    // every BIGINT the store holds (ids, times in ms, counts) fits a double exactly
    types: {
      int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
  });
  // connect first: reserve() on a pool that has not opened its connection yet never resolves (seen with
  // this client, max 1)
  await sql.unsafe("SELECT 1");
  conn = await sql.reserve();
  return { ok: true };
}

async function query(m: QueryRequest): Promise<Answer> {
  if (m.op === "close") {
    conn?.release();
    await sql?.end({ timeout: 0.2 }); // nothing is in flight: the sync API waits for every answer
    conn = sql = undefined;
    return { ok: true };
  }
  if (!conn) throw new Error("not connected");
  if (m.op === "exec") {
    await conn.unsafe(m.sql);
    return { ok: true };
  }
  if (m.op === "many") {
    // issued together, the client pipelines them on the one connection: one round trip, not one each
    const c = conn;
    const done = await Promise.all(m.argLists.map((a) => c.unsafe(m.sql, a as never[], { prepare: true })));
    return { ok: true, changes: done.reduce((n, r) => n + (r.count ?? 0), 0) };
  }
  const r = await conn.unsafe(m.sql, m.args as never[], { prepare: true });
  return m.op === "all"
    ? { ok: true, rows: plain(r as Record<string, unknown>[]) }
    : { ok: true, changes: r.count ?? 0 };
}

parentPort?.on("message", async (m: OpenRequest | QueryRequest) => {
  let a: Answer;
  try {
    a = m.op === "open" ? await open(m) : await query(m);
  } catch (err) {
    a = { ok: false, message: oneLine(err) };
  }
  answer(a);
  if (m.op === "close") parentPort?.close();
});

// a connection dropping between requests must not end the worker: the next request reports it
globalThis.addEventListener("unhandledrejection", (e) => e.preventDefault());
