// The loader on the synthetic dataset: worker and in-process batches are identical for a seed,
// shapes follow the views, labels follow the list, and bad files fail or are skipped by policy.

import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { parseList } from "../../lib/data/lists.ts";
import { VideoLoader } from "../../lib/data/loader.ts";

const dir = await Deno.makeTempDir();
await generateSynthetic(dir, {
  seed: 3,
  clipsPerClass: 2,
  frames: 12,
  size: 64,
  shapes: ["circle", "square"],
  colours: ["red", "blue"],
  motions: ["left"],
});
const items = parseList(await Deno.readTextFile(`${dir}/train.txt`), "train.txt")
  .concat(parseList(await Deno.readTextFile(`${dir}/val.txt`), "val.txt"));

async function collect(loader: VideoLoader, epoch = 0) {
  const out = [];
  for await (const b of loader.epoch(epoch)) out.push(b);
  loader.close();
  return out;
}

Deno.test("workers and in-process loading give identical training batches for a seed", async () => {
  const opts = { root: dir, batch: 3, frames: 4, mode: "train" as const, size: 32, seed: 11 };
  const a = await collect(new VideoLoader(items, { ...opts, workers: 2 }));
  const b = await collect(new VideoLoader(items, { ...opts, workers: 0 }));
  if (a.length !== Math.floor(items.length / 3) || a.length !== b.length) {
    throw new Error(`${a.length} vs ${b.length}`);
  }
  a.forEach((x, i) => {
    if (x.paths.join() !== b[i].paths.join()) throw new Error(`batch ${i} order differs`);
    if (x.frames.some((v, j) => v !== b[i].frames[j])) throw new Error(`batch ${i} pixels differ`);
    if (x.shape.join() !== [3, 4, 3, 32, 32].join()) throw new Error(`shape ${x.shape}`);
  });
  const again = await collect(new VideoLoader(items, { ...opts, workers: 1 }), 1);
  if (again[0].paths.join() === a[0].paths.join() && again[1]?.paths.join() === a[1]?.paths.join()) {
    throw new Error("epoch 1 has epoch 0's order");
  }
});

Deno.test("test mode: clips × crops views, list order, labels from the list", async () => {
  const loader = new VideoLoader(items, {
    root: dir,
    batch: 2,
    frames: 2,
    mode: "test",
    clips: 2,
    crops: 3,
    size: 32,
    workers: 1,
  });
  const batches = await collect(loader);
  const first = batches[0];
  if (first.shape.join() !== [2, 12, 3, 32, 32].join()) throw new Error(`shape ${first.shape}`);
  if (first.labels[0] !== items[0].label || first.paths[0] !== `${dir}/${items[0].path}`) {
    throw new Error("test batches do not follow the list");
  }
  if (batches.reduce((n, b) => n + b.labels.length, 0) !== items.length) throw new Error("items lost");
});

Deno.test("a corrupt file fails the epoch naming it, or is skipped and counted", async () => {
  const bad = [...items.slice(0, 3), { path: "videos/broken.mp4", label: 0 }];
  await Deno.writeFile(`${dir}/videos/broken.mp4`, new Uint8Array(100).fill(7));
  const opts = { root: dir, batch: 4, frames: 2, mode: "test" as const, size: 32, workers: 1 };
  let msg = "";
  try {
    await collect(new VideoLoader(bad, { ...opts, onError: "fail" }));
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("broken.mp4")) throw new Error(`unhelpful error: ${msg}`);
  const loader = new VideoLoader(bad, { ...opts, onError: "skip" });
  const batches = [];
  for await (const b of loader.epoch(0)) batches.push(b);
  loader.close();
  if (
    batches[0].labels.length !== 3 || loader.skipped.length !== 1 ||
    !loader.skipped[0].path.includes("broken")
  ) {
    throw new Error(
      `skip policy: ${batches[0].labels.length} items, skipped ${JSON.stringify(loader.skipped)}`,
    );
  }
});
