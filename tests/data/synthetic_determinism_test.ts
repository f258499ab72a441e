// The same seed must give the same bytes at any time of day: the MP4 muxer stamps the wall clock into
// its movie/track/media headers, which the generator clears (a run straddling a second used to differ).

import { generateSynthetic } from "../../lib/data/synthetic.ts";

Deno.test("synthetic clips are byte-identical across runs seconds apart", async () => {
  const opts = {
    seed: 5,
    clipsPerClass: 1,
    frames: 4,
    size: 32,
    colours: ["red"],
    shapes: ["square"],
    motions: ["left"],
  };
  const a = await Deno.makeTempDir();
  const b = await Deno.makeTempDir();
  const s = await generateSynthetic(a, opts);
  await new Promise((r) => setTimeout(r, 1100));
  await generateSynthetic(b, opts);
  const x = await Deno.readFile(`${a}/${s.clips[0].path}`);
  const y = await Deno.readFile(`${b}/${s.clips[0].path}`);
  if (x.length !== y.length || x.some((v, i) => v !== y[i])) throw new Error("bytes differ between runs");
  await Deno.remove(a, { recursive: true });
  await Deno.remove(b, { recursive: true });
});
