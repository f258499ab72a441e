// The results store's backends for tests that run on both: a SQLite file in a temp folder, and (when
// VIFI_TEST_POSTGRES names a reachable server, as CI's .ci/cluster.sh provides) a PostgreSQL database of
// the test's own, created for it and dropped after, so tests never see each other's rows.

import { openSql } from "../../lib/results/store.ts";
import type { SqlDb } from "../../lib/results/sql.ts";

export interface TestDb {
  /** what ResultsStore.open takes */
  target: string;
  /** a temp folder of the test's own (both backends) */
  dir: string;
}

export interface Backend {
  name: "sqlite" | "postgres";
  /** runs `fn` on a fresh, empty database; on PostgreSQL without a server, prints why and skips */
  with(fn: (db: TestDb) => Promise<void> | void): Promise<void>;
}

let reachable: string | null | undefined;

/** Why PostgreSQL tests cannot run here (null when they can). */
export function postgresMissing(): string | null {
  if (reachable !== undefined) return reachable;
  const url = Deno.env.get("VIFI_TEST_POSTGRES");
  if (!url) return reachable = 'VIFI_TEST_POSTGRES is not set (eval "$(bash .ci/cluster.sh env)")';
  try {
    openSql(url, { connectTimeoutS: 3 }).close();
    return reachable = null;
  } catch (e) {
    return reachable = `PostgreSQL at VIFI_TEST_POSTGRES unreachable: ${(e as Error).message}`;
  }
}

function admin(): SqlDb {
  return openSql(Deno.env.get("VIFI_TEST_POSTGRES")!);
}

/** A new, empty PostgreSQL database: its URL, and the call that drops it. */
export function freshPostgres(): { url: string; drop: () => void } {
  const name = `vifi_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const a = admin();
  try {
    a.exec(`CREATE DATABASE ${name}`);
  } finally {
    a.close();
  }
  const u = new URL(Deno.env.get("VIFI_TEST_POSTGRES")!);
  u.pathname = `/${name}`;
  return {
    url: u.href,
    drop: () => {
      const b = admin();
      try {
        // FORCE: a child process a failed test left connected must not keep the database alive
        b.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        b.close();
      }
    },
  };
}

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vifi-results-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export const sqlite: Backend = {
  name: "sqlite",
  with: (fn) => withDir((dir) => fn({ target: `${dir}/r.db`, dir })),
};

export const postgres: Backend = {
  name: "postgres",
  async with(fn) {
    const missing = postgresMissing();
    if (missing) {
      console.log(`skip: ${missing}`);
      return;
    }
    const db = freshPostgres();
    try {
      await withDir((dir) => fn({ target: db.url, dir }));
    } finally {
      db.drop();
    }
  },
};

export const backends: Backend[] = [sqlite, postgres];
