// A PostgreSQL database of a test's own on the server VIFI_TEST_POSTGRES names (.ci/cluster.sh start gives
// one on 127.0.0.1:55432): CREATE DATABASE vifi_t_<random> on open, DROP … WITH (FORCE) on drop(), so
// tests never see each other's rows or a previous run's, and a connection a killed trainer left open
// does not keep the database alive. Where the variable is unset or the server does not answer, the
// reason comes back instead, for the test to print and skip.

import postgres from "npm:postgres@3.4.10";

export interface FreshPostgres {
  /** postgres://…/vifi_t_<random>: the URL a results store opens */
  url: string;
  /** drops the database (and ends whatever is still connected to it) */
  drop(): Promise<void>;
}

/** The admin URL's server with another database name. */
function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.href;
}

async function admin<T>(url: string, fn: (sql: ReturnType<typeof postgres>) => Promise<T>): Promise<T> {
  const sql = postgres(url, { connect_timeout: 3, max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** A new empty database, or why there is none (VIFI_TEST_POSTGRES unset or its server unreachable). */
export async function freshPostgres(prefix = "vifi_t"): Promise<FreshPostgres | string> {
  const server = Deno.env.get("VIFI_TEST_POSTGRES");
  if (!server) {
    return 'VIFI_TEST_POSTGRES is unset (eval "$(bash .ci/cluster.sh env)" after .ci/cluster.sh start)';
  }
  const name = `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  try {
    // a name of [a-z0-9_] only, so it may stand in the statement unquoted
    await admin(server, (sql) => sql.unsafe(`CREATE DATABASE ${name}`));
  } catch (e) {
    return `the PostgreSQL server at VIFI_TEST_POSTGRES does not answer: ${(e as Error).message}`;
  }
  return {
    url: withDatabase(server, name),
    drop: () =>
      admin(server, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

/** Why the local Slurm cluster cannot take jobs (sinfo fails or lists nothing), or undefined when it can. */
export async function slurmMissing(): Promise<string | undefined> {
  try {
    const r = await new Deno.Command("sinfo", {
      args: ["-h", "-o", "%a %t"],
      stderr: "piped",
      stdout: "piped",
    })
      .output();
    if (!r.success) {
      return `sinfo failed: ${new TextDecoder().decode(r.stderr).trim().replace(/\s*\n\s*/g, " ")}`;
    }
    if (!new TextDecoder().decode(r.stdout).trim()) return "sinfo lists no partition";
    return undefined;
  } catch (e) {
    return `sinfo cannot run (${(e as Error).message}); .ci/cluster.sh start gives a local cluster`;
  }
}
