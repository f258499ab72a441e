// `deno task dashboard` as a child process for the tests that drive the real command: started with the
// given arguments, waited for until it prints the address it listens on, its output kept for messages,
// stopped with SIGTERM.

export interface DashboardProcess {
  host: string;
  port: number;
  /** http://127.0.0.1:PORT */
  base: string;
  /** what it printed on stdout and stderr so far */
  out: () => string;
  err: () => string;
  /** SIGTERM, then its exit status once its output has been read to the end */
  stop: () => Promise<Deno.CommandStatus>;
}

export async function startDashboard(args: string[]): Promise<DashboardProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../lib/cli/dashboard.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dec = new TextDecoder();
  let out = "", err = "";
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const c of s) add(dec.decode(c));
  };
  const done = Promise.all([pump(child.stdout, (t) => (out += t)), pump(child.stderr, (t) => (err += t))]);
  const t0 = Date.now();
  while (!/http:\/\/\S+:\d+\//.test(out)) {
    if (Date.now() - t0 > 60_000) {
      child.kill("SIGKILL");
      throw new Error(`dashboard did not start: ${out} ${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = /http:\/\/(\S+):(\d+)\//.exec(out)!;
  const port = Number(url[2]);
  return {
    host: url[1],
    port,
    base: `http://127.0.0.1:${port}`,
    out: () => out + err,
    err: () => err,
    stop: async () => {
      child.kill("SIGTERM");
      const status = await child.status;
      await done;
      return status;
    },
  };
}
