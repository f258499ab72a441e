// mod.ts must work when imported over HTTP: serve this repository on 127.0.0.1, import mod.ts from
// that URL in a fresh process (so nothing is shared with this one), and run a kernel there.

const root = new URL("../", import.meta.url);

Deno.test("mod.ts imported from http://127.0.0.1 runs a matmul", async () => {
  const ac = new AbortController();
  const requested: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      requested.push(path);
      if (path.includes("..")) return new Response("bad path", { status: 400 });
      try {
        const body = await Deno.readFile(new URL("." + path, root));
        const type = path.endsWith(".ts") ? "application/typescript" : "text/plain";
        return new Response(body, { headers: { "content-type": type } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const script = `
    import { getRuntime, matmul, Tensor } from "${base}/mod.ts";
    const rt = await getRuntime();
    const a = Tensor.from(rt, [1, 2, 3, 4, 5, 6], [2, 3]);
    const b = Tensor.from(rt, [1, 0, 0, 1, 1, 1], [3, 2]);
    console.log(JSON.stringify(Array.from(await (await matmul(a, b)).read())));
  `;
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--no-lock",
        "--allow-import=127.0.0.1",
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-read",
        "--allow-write",
        "-",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { DENO_DIR: await Deno.makeTempDir() },
    }).spawn();
    const w = out.stdin.getWriter();
    await w.write(new TextEncoder().encode(script));
    await w.close();
    const { code, stdout, stderr } = await out.output();
    const text = new TextDecoder().decode(stdout).trim();
    if (code !== 0) throw new Error(`child failed (${code}):\n${new TextDecoder().decode(stderr)}`);
    // [1 2 3; 4 5 6] · [1 0; 0 1; 1 1] = [4 5; 10 11]
    if (text.split("\n").pop() !== "[4,5,10,11]") throw new Error(`unexpected output: ${text}`);
    if (!requested.some((p) => p.endsWith("/kernels/matmul.wgsl"))) {
      throw new Error(`the kernel was not fetched over HTTP; requests: ${requested.join(", ")}`);
    }
  } finally {
    ac.abort();
    await server.finished;
  }
});
