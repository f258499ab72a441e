import { CLIP_CONFIGS, clipShapes, inferClipConfig, type Weights } from "../../lib/models/config.ts";

function shapesOnly(name: string): Weights {
  return new Map(
    clipShapes(CLIP_CONFIGS[name]).map(([n, shape]) => [n, { shape, data: new Float32Array(0) }]),
  );
}

for (const name of ["ViT-B/16", "ViT-B/32", "ViT-L/14"]) {
  Deno.test(`architecture inferred from ${name} weight shapes`, () => {
    const got = inferClipConfig(shapesOnly(name), { name });
    const want = CLIP_CONFIGS[name];
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`inferred ${JSON.stringify(got)}\nexpected ${JSON.stringify(want)}`);
    }
  });
}

Deno.test("tiny architecture inferred with its head width; missing tensors are named", () => {
  const got = inferClipConfig(shapesOnly("tiny"), { name: "tiny", headWidth: 16 });
  if (JSON.stringify(got) !== JSON.stringify(CLIP_CONFIGS.tiny)) throw new Error(JSON.stringify(got));
  const w = shapesOnly("ViT-B/16");
  w.delete("text_projection");
  let msg = "";
  try {
    inferClipConfig(w);
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("text_projection")) throw new Error(`unhelpful error: ${msg}`);
});
