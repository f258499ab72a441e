// `deno task video --dump DIR --transformed`: one PNG per view and frame at the model's input size,
// and the same pixels the loader gives for that seed.

import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { prepareVideo } from "../../lib/data/prepare.ts";
import { main } from "../../lib/cli/video.ts";
import { MEAN, STD } from "../../lib/video/transforms.ts";

/** RGB bytes of an 8-bit RGB PNG whose rows all use filter 0 (what lib/video/png.ts writes). */
async function readPngRgb(png: Uint8Array): Promise<Uint8Array> {
  const view = new DataView(png.buffer, png.byteOffset);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const idat: Uint8Array[] = [];
  for (let o = 8; o < png.length;) {
    const len = view.getUint32(o);
    const type = new TextDecoder().decode(png.subarray(o + 4, o + 8));
    if (type === "IDAT") idat.push(png.subarray(o + 8, o + 8 + len));
    o += 12 + len;
  }
  const zipped = new Blob(idat as BlobPart[]).stream().pipeThrough(new DecompressionStream("deflate"));
  const raw = new Uint8Array(await new Response(zipped).arrayBuffer());
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    if (raw[row] !== 0) throw new Error(`row ${y} uses PNG filter ${raw[row]}`);
    rgb.set(raw.subarray(row + 1, row + 1 + width * 3), y * width * 3);
  }
  return rgb;
}

Deno.test("video CLI --transformed dumps what the loader would feed the model", async () => {
  const dir = await Deno.makeTempDir();
  const s = await generateSynthetic(dir, {
    seed: 2,
    clipsPerClass: 1,
    frames: 12,
    size: 64,
    shapes: ["circle"],
    colours: ["green"],
    motions: ["up"],
  });
  const file = `${dir}/${s.clips[0].path}`;
  const out = `${dir}/dump`;
  const code = await main([
    file,
    "--frames",
    "3",
    "--mode",
    "train",
    "--seed",
    "9",
    "--dump",
    out,
    "--transformed",
  ]);
  if (code !== 0) throw new Error(`exit ${code}`);
  const pngs = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  if (pngs.length !== 3) throw new Error(`expected 3 PNGs, got ${pngs.join(", ")}`);
  const png = await Deno.readFile(`${out}/${pngs[0]}`);
  const view = new DataView(png.buffer);
  if (view.getUint32(16) !== 224 || view.getUint32(20) !== 224) throw new Error("PNG is not 224×224");
  // The loader's tensor for the same seed, back in bytes, against every pixel of every dumped frame.
  const ref = await prepareVideo({ path: file, mode: "train", frames: 3, seed: 9 });
  for (let k = 0; k < 3; k++) {
    const rgb = await readPngRgb(await Deno.readFile(`${out}/${pngs[k]}`));
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      const base = (k * 3 + c) * 224 * 224;
      for (let i = 0; i < 224 * 224; i++) {
        const want = Math.max(0, Math.min(255, Math.round(ref.data[base + i] * STD[c] + MEAN[c])));
        worst = Math.max(worst, Math.abs(rgb[i * 3 + c] - want));
      }
    }
    if (worst !== 0) throw new Error(`${pngs[k]} differs from the loader's frame by up to ${worst}`);
  }
  await Deno.remove(dir, { recursive: true });
});
