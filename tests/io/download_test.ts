// `deno task weights download` against a local server standing in for OpenAI's: the fixture's own
// SHA-256 is the folder in --base-url, as OpenAI's URLs carry theirs. Nothing here reaches the internet.

import { releaseUrls, sha256FromUrl } from "../../lib/io/download.ts";

const cli = new URL("../../lib/cli/weights.ts", import.meta.url).pathname;
const vocabPath = new URL(
  "../../../shared/reference/vificlip-data/clip/bpe_simple_vocab_16e6.txt.gz",
  import.meta.url,
);

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Deterministic, incompressible-looking bytes. */
function fixture(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

type Mode = "range" | "drop-first" | "ignore-range";

function startServer(files: Map<string, Uint8Array<ArrayBuffer>>, mode: Mode) {
  const requests: { path: string; range: string | null }[] = [];
  let dropped = false;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    const range = req.headers.get("range");
    requests.push({ path, range });
    const body = files.get(path);
    if (!body) return new Response("not found", { status: 404 });
    if (mode === "drop-first" && !dropped) {
      dropped = true;
      // announce the whole file, send half, then cut the connection
      const half = body.subarray(0, body.length >> 1);
      let sent = false;
      const stream = new ReadableStream<Uint8Array>({
        async pull(c) {
          if (!sent) {
            sent = true;
            c.enqueue(half);
            return;
          }
          await new Promise((r) => setTimeout(r, 50));
          c.close(); // short of the announced length: the server has to cut the connection
        },
      });
      return new Response(stream, { headers: { "content-length": String(body.length) } });
    }
    const m = range && /^bytes=(\d+)-$/.exec(range);
    if (m && mode !== "ignore-range") {
      const start = Number(m[1]);
      if (start >= body.length) {
        return new Response(null, { status: 416, headers: { "content-range": `bytes */${body.length}` } });
      }
      return new Response(body.subarray(start), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` },
      });
    }
    return new Response(body);
  });
  return { server, requests, port: server.addr.port };
}

async function download(args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "download", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout), err = new TextDecoder().decode(stderr);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(out);
  } catch { /* reported below with the raw output */ }
  return { code, out, err, json };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function withSetup(
  mode: Mode,
  fn: (
    s: {
      cache: string;
      base: string;
      body: Uint8Array;
      sha: string;
      requests: { path: string; range: string | null }[];
      vocab: boolean;
    },
  ) => Promise<void>,
  opts: { serveWrong?: boolean } = {},
) {
  const body = fixture(300_000, 7);
  const sha = await sha256(body);
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  files.set(`/${sha}/ViT-B-16.pt`, opts.serveWrong ? fixture(300_000, 8) : body);
  let vocab = false;
  try {
    files.set(`/${sha}/bpe_simple_vocab_16e6.txt.gz`, await Deno.readFile(vocabPath));
    vocab = true;
  } catch { /* the shared reference copy is absent: test the model file only */ }
  const { server, requests, port } = startServer(files, mode);
  const cache = await Deno.makeTempDir({ prefix: "vifi-cache-" });
  try {
    await fn({ cache, base: `http://127.0.0.1:${port}/${sha}`, body, sha, requests, vocab });
  } finally {
    await server.shutdown();
    await Deno.remove(cache, { recursive: true });
  }
}

Deno.test("release URLs carry the SHA-256; --base-url stands for OpenAI's folder", () => {
  const u = releaseUrls("ViT-B/32");
  if (
    u.weights !==
      "https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt"
  ) {
    throw new Error(u.weights);
  }
  if (sha256FromUrl(u.weights) !== "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af") {
    throw new Error("sha");
  }
  const mirror = releaseUrls("ViT-L/14", "https://mirror.example/clip/models/");
  if (
    !mirror.weights.endsWith(
      "/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    )
  ) {
    throw new Error(mirror.weights);
  }
  if (mirror.vocab !== "https://mirror.example/clip/models/bpe_simple_vocab_16e6.txt.gz") {
    throw new Error(mirror.vocab);
  }
  const own = "ab".repeat(32);
  if (releaseUrls("ViT-B/16", `http://h/${own}`).weights !== `http://h/${own}/ViT-B-16.pt`) {
    throw new Error("own folder");
  }
});

Deno.test("download: verified into the cache with the vocabulary, then served from the cache", async () => {
  await withSetup("range", async ({ cache, base, body, sha, vocab }) => {
    const args = [
      "ViT-B/16",
      "--cache",
      cache,
      "--base-url",
      base,
      "--json",
      ...(vocab ? [] : ["--no-vocab"]),
    ];
    const r = await download(args);
    if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.out}\n${r.err}`);
    const weights = r.json.weights as { path: string; sha256: string; cached: boolean };
    if (weights.sha256 !== sha || weights.cached) throw new Error(r.out);
    const got = await Deno.readFile(`${cache}/ViT-B-16.pt`);
    if (got.length !== body.length || (await sha256(got)) !== sha) throw new Error("cached file differs");
    if (await exists(`${cache}/ViT-B-16.pt.part`)) throw new Error(".part left behind");
    if (vocab && !(await exists(`${cache}/bpe_simple_vocab_16e6.txt.gz`))) throw new Error("no vocabulary");
    // not a terminal: one progress line per 10 %
    const lines = r.err.split("\n").filter((l) => l.startsWith("ViT-B-16.pt: "));
    if (!lines.at(-1)?.startsWith("ViT-B-16.pt: 100% ") || lines.length > 11) {
      throw new Error(`progress:\n${r.err}`);
    }
    const again = await download(args);
    if (again.code !== 0 || !(again.json.weights as { cached: boolean }).cached) {
      throw new Error(again.out + again.err);
    }
  });
});

Deno.test("download: a connection dropped halfway is resumed with a Range request", async () => {
  await withSetup("drop-first", async ({ cache, base, sha, requests }) => {
    const r = await download(["ViT-B/16", "--cache", cache, "--base-url", base, "--json", "--no-vocab"]);
    if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.out}\n${r.err}`);
    const w = r.json.weights as { sha256: string; resumed: boolean };
    if (w.sha256 !== sha || !w.resumed) throw new Error(r.out);
    const ranges = requests.map((q) => q.range);
    if (ranges.length !== 2 || ranges[0] !== null || !/^bytes=\d+-$/.test(ranges[1] ?? "")) {
      throw new Error(`requests ${JSON.stringify(requests)}`);
    }
    if (Number(/\d+/.exec(ranges[1]!)![0]) === 0) throw new Error("resumed from zero");
  });
});

Deno.test("download: a server that ignores Range restarts the file instead of appending", async () => {
  await withSetup("ignore-range", async ({ cache, base, sha, requests }) => {
    // a stale partial file whose bytes would corrupt the result if the full response were appended
    await Deno.writeFile(`${cache}/ViT-B-16.pt.part`, fixture(1000, 99));
    const r = await download(["ViT-B/16", "--cache", cache, "--base-url", base, "--json", "--no-vocab"]);
    if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.out}\n${r.err}`);
    if ((r.json.weights as { sha256: string }).sha256 !== sha) throw new Error(r.out);
    if (requests[0].range !== "bytes=1000-") throw new Error(JSON.stringify(requests));
    if (!r.err.includes("ignored the range request")) throw new Error(r.err);
  });
});

Deno.test("download: a file whose SHA-256 does not match is refused and nothing is left", async () => {
  await withSetup("range", async ({ cache, base, sha }) => {
    const r = await download(["ViT-B/16", "--cache", cache, "--base-url", base, "--no-vocab"]);
    if (r.code !== 1) throw new Error(`exit ${r.code}\n${r.out}\n${r.err}`);
    if (!r.err.includes("does not have the expected SHA-256") || !r.err.includes(`expected ${sha}`)) {
      throw new Error(r.err);
    }
    const left = [...Deno.readDirSync(cache)].map((e) => e.name);
    if (left.length) throw new Error(`left in the cache: ${left}`);
  }, { serveWrong: true });
});

Deno.test("download: unknown model and HTTP errors are clear", async () => {
  await withSetup("range", async ({ cache, base }) => {
    const bad = await download(["ViT-H/14", "--cache", cache]);
    if (bad.code !== 2 || !bad.err.includes("ViT-B/16")) throw new Error(`exit ${bad.code}: ${bad.err}`);
    const missing = await download(["ViT-B/32", "--cache", cache, "--base-url", base, "--no-vocab"]);
    if (missing.code !== 1 || !missing.err.includes("HTTP 404")) {
      throw new Error(`exit ${missing.code}: ${missing.err}`);
    }
  });
});
