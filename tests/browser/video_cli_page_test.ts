// The page's model input against what `deno task video --transformed` writes for the same file: the CLI's
// PNGs (one per view and frame, the normalisation undone) and the page's prepareVideoInPage output undone the
// same way hash alike, frame for frame: test sampling with three crops and a training draw (its random crop,
// flip and colour jitter continue the sampling's random stream), for an untagged and a BT.709 full-range
// stream, with the pixels from Chromium's WebCodecs decoder. One Chromium launch.

import { existsSync } from "node:fs";
import { assert, assertEquals } from "../data/assert.ts";
import { CHROMIUM, openPage } from "../../lib/cli/browser-page.ts";
import { main as videoCli } from "../../lib/cli/video.ts";
import { taggedVideos } from "./videos.ts";
import { MEAN, STD } from "../../lib/video/normalize.ts";

const ENTRY = new URL("../../lib/browser/entry.ts", import.meta.url);
const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is absent (apt-get install chromium)`;
if (skip) console.log(`page-vs-CLI video test skipped: ${skip}`);

/** The RGB rows of an 8-bit RGB, unfiltered PNG (what lib/video/png.ts writes). */
async function pngRgb(png: Uint8Array): Promise<Uint8Array> {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const w = dv.getUint32(16), h = dv.getUint32(20);
  const idat: Uint8Array[] = [];
  for (let o = 8; o < png.length;) {
    const len = dv.getUint32(o);
    const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
    if (type === "IDAT") idat.push(png.subarray(o + 8, o + 8 + len));
    o += 12 + len;
  }
  const z = new Blob(idat as Uint8Array<ArrayBuffer>[]).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  const raw = new Uint8Array(await new Response(z).arrayBuffer());
  const out = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) {
    assertEquals(raw[r * (w * 3 + 1)], 0, "PNG filter byte");
    out.set(raw.subarray(r * (w * 3 + 1) + 1, (r + 1) * (w * 3 + 1)), r * w * 3);
  }
  return out;
}

async function sha256(b: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>));
  return [...d].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** `deno task video FILE --transformed --dump DIR ...`, its PNGs in order, as hashes of their RGB. */
async function cliHashes(file: string, args: string[]): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "vifi-video-cli-" });
  try {
    const log = console.log;
    console.log = () => {};
    let code: number;
    try {
      code = await videoCli([file, ...args, "--dump", dir, "--transformed"]);
    } finally {
      console.log = log;
    }
    assertEquals(code, 0, "deno task video exit code");
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".png")).sort();
    return await Promise.all(
      names.map(async (n) => await sha256(await pngRgb(await Deno.readFile(`${dir}/${n}`)))),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "the page's model input is what `deno task video --transformed` writes (WebCodecs decoding)",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { plain, tagged } = await taggedVideos();
    const dir = await Deno.makeTempDir({ prefix: "vifi-video-page-" });
    const p = await openPage({
      entries: [ENTRY],
      files: { "/plain.mp4": { body: plain }, "/tagged.mp4": { body: tagged } },
    });
    try {
      await p.page!.waitForFunction("globalThis.vifi !== undefined", null, { timeout: 60_000 });
      const jobs = [
        { cli: ["--frames", "4", "--crops", "3"], job: { mode: "test", frames: 4, crops: 3, seed: 0 } },
        {
          cli: ["--frames", "3", "--mode", "train", "--seed", "5"],
          job: { mode: "train", frames: 3, seed: 5 },
        },
      ];
      for (const name of ["plain", "tagged"]) {
        const file = `${dir}/${name}.mp4`;
        await Deno.writeFile(file, name === "plain" ? plain : tagged);
        for (const { cli, job } of jobs) {
          const want = await cliHashes(file, cli);
          const got = await p.page!.evaluate(async (a) => {
            // deno-lint-ignore no-explicit-any
            const vifi = (globalThis as any).vifi;
            const bytes = new Uint8Array(await (await fetch(a.url)).arrayBuffer());
            const r = await vifi.prepareVideoInPage({ path: a.url, ...a.job }, bytes, {
              decoder: "webcodecs",
            });
            const [n, , h, w] = r.shape;
            const { MEAN, STD } = a;
            const hashes: string[] = [];
            for (let k = 0; k < n; k++) {
              const rgb = new Uint8Array(h * w * 3);
              for (let c = 0; c < 3; c++) {
                const base = (k * 3 + c) * h * w;
                for (let i = 0; i < h * w; i++) {
                  rgb[i * 3 + c] = Math.max(
                    0,
                    Math.min(255, Math.round(r.data[base + i] * STD[c] + MEAN[c])),
                  );
                }
              }
              const d = new Uint8Array(await crypto.subtle.digest("SHA-256", rgb));
              hashes.push([...d].map((x) => x.toString(16).padStart(2, "0")).join(""));
            }
            return { hashes, decoder: r.decoder as string };
          }, { url: `/${name}.mp4`, job, MEAN: [...MEAN], STD: [...STD] });
          assertEquals(got.decoder, "webcodecs");
          assert(want.length === got.hashes.length && want.length > 0, `${name} ${cli}: ${want.length} PNGs`);
          assertEquals(got.hashes, want, `${name} ${cli.join(" ")}: the page's frames vs the CLI's PNGs`);
        }
      }
      assertEquals(p.errors, [], "page errors");
    } finally {
      await p.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
