// lib/browser/weights.ts under Deno, which has fetch and the Cache API as a page has: a download reports its
// progress up to the file's size and is stored, the second fetch of the URL is read from the cache (the
// server sees one request) with progress too, a gzip-encoded transfer is read whole (its length header is the
// compressed size), forgetting the URL downloads it again, and an HTTP error names the URL.

import { assert, assertEquals } from "../data/assert.ts";
import { fetchWeights, forgetWeights } from "../../lib/browser/weights.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";

const seed = sessionSeed();

async function gzip(b: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const s = new Blob([b as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

Deno.test(`fetchWeights: progress, the cache on the second fetch, gzip transfers, forgetting (seed ${seed})`, async () => {
  const rng = new Rng(seed);
  const body = Uint8Array.from({ length: 300_007 }, () => Math.floor(rng.next() * 256));
  const packed = await gzip(body);
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    hits.push(path);
    if (path === "/w.safetensors") {
      return new Response(body, { headers: { "content-length": String(body.length) } });
    }
    if (path === "/gz.safetensors") {
      return new Response(packed, {
        headers: { "content-encoding": "gzip", "content-length": String(packed.length) },
      });
    }
    return new Response("no", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const seen: [number, number][] = [];
    const first = await fetchWeights(`${base}/w.safetensors`, (l, t) => seen.push([l, t]));
    assertEquals(first.from, "network");
    assert(first.bytes.length === body.length && first.bytes.every((b, i) => b === body[i]), "bytes");
    assertEquals(seen.at(-1), [body.length, body.length]);
    assert(seen.every(([l], i) => i === 0 || l >= seen[i - 1][0]), "progress only grows");

    const cachedProgress: [number, number][] = [];
    const second = await fetchWeights(`${base}/w.safetensors`, (l, t) => cachedProgress.push([l, t]));
    assertEquals(second.from, "cache");
    assert(second.bytes.every((b, i) => b === body[i]), "cached bytes");
    assertEquals(cachedProgress.at(-1), [body.length, body.length]);
    assertEquals(hits.filter((h) => h === "/w.safetensors").length, 1, "one request for two fetches");

    const gz = await fetchWeights(`${base}/gz.safetensors`);
    assertEquals(gz.bytes.length, body.length, "the gzip transfer's body, whole");
    assert(gz.bytes.every((b, i) => b === body[i]), "gzip bytes");

    assert(await forgetWeights(`${base}/w.safetensors`), "forgotten");
    assertEquals((await fetchWeights(`${base}/w.safetensors`)).from, "network");

    const err = await fetchWeights(`${base}/missing.safetensors`).then(() => "", (e: Error) => e.message);
    assertEquals(err, `vifi: cannot fetch weights ${base}/missing.safetensors: HTTP 404 Not Found`);
  } finally {
    for (const p of ["/w.safetensors", "/gz.safetensors"]) await forgetWeights(`${base}${p}`);
    await server.shutdown();
  }
});
