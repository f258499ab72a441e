// What the trainer writes (checkpoints, best/last copies, its owner file) goes through a temporary
// file, fsync and rename: a process killed at any moment leaves the old file or the new one, never a
// part, and the temporary file it left is removed at the next start in that folder.

import { assert, assertEquals } from "../data/assert.ts";
import { copyFileAtomic, removeOrphanedTemps, writeFileAtomic } from "../../lib/io/atomic-write.ts";
import { claimOutput } from "../../lib/train/output.ts";

const atomicUrl = new URL("../../lib/io/atomic-write.ts", import.meta.url).href;
const SIZE = 8 << 20;

/** A file whose every byte is `v`: a complete copy is SIZE bytes of one value. */
function filled(v: number): Uint8Array {
  return new Uint8Array(SIZE).fill(v);
}

async function complete(path: string): Promise<boolean> {
  const b = await Deno.readFile(path);
  return b.length === SIZE && b.every((x) => x === b[0]);
}

Deno.test("a writer killed (SIGKILL) during writes and copies never leaves a partial target; the next start removes its temporary files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-atomic-" });
  try {
    await Deno.writeFile(`${dir}/a.bin`, filled(1));
    await Deno.writeFile(`${dir}/b.bin`, filled(2));
    await Deno.writeFile(`${dir}/best.safetensors`, filled(1));
    await Deno.writeFile(`${dir}/last.safetensors`, filled(1));
    // the child replaces best (copies, as the trainer's best/last) and last (writes) over and over
    const child = `${dir}/writer.ts`;
    await Deno.writeTextFile(
      child,
      `import { copyFileAtomic, writeFileAtomic } from ${JSON.stringify(atomicUrl)};
       const d = ${JSON.stringify(dir)};
       const bytes = [new Uint8Array(${SIZE}).fill(1), new Uint8Array(${SIZE}).fill(2)];
       console.log("ready");
       for (let i = 0;; i++) {
         await copyFileAtomic(i % 2 ? d + "/a.bin" : d + "/b.bin", d + "/best.safetensors");
         await writeFileAtomic(d + "/last.safetensors", bytes[i % 2]);
       }`,
    );
    let temps = 0;
    for (let round = 0; round < 8; round++) {
      const p = new Deno.Command(Deno.execPath(), { args: ["run", "-A", child], stdout: "piped" }).spawn();
      const reader = p.stdout.getReader();
      await reader.read(); // "ready": the loop is running
      // a reader polling meanwhile never sees a short file; then a kill, at a different moment each round
      const until = performance.now() + 60 + 29 * round;
      while (performance.now() < until) {
        for (const f of ["best.safetensors", "last.safetensors"]) {
          const size = Deno.statSync(`${dir}/${f}`).size;
          assert(size === SIZE, `round ${round}: a reader saw ${f} at ${size} of ${SIZE} bytes`);
        }
        await new Promise((r) => setTimeout(r, 0));
      }
      p.kill("SIGKILL");
      await p.status;
      reader.releaseLock();
      await p.stdout.cancel();
      for (const f of ["best.safetensors", "last.safetensors"]) {
        assert(await complete(`${dir}/${f}`), `round ${round}: ${f} is partial after a kill`);
      }
      temps += [...Deno.readDirSync(dir)].filter((e) => e.name.includes(".vifi-tmp-")).length;
      await removeOrphanedTemps(dir);
    }
    console.log(`  8 kills, ${temps} temporary files left behind and removed`);
    // an orphan left in an output folder is gone once a run claims the folder
    await Deno.remove(`${dir}/best.safetensors`);
    await Deno.remove(`${dir}/last.safetensors`);
    await Deno.writeFile(`${dir}/ckpt_epoch_3.safetensors.vifi-tmp-0123abcd`, filled(3).subarray(0, 100));
    await claimOutput(dir, { experiment: "next" });
    assertEquals([...Deno.readDirSync(dir)].filter((e) => e.name.includes(".vifi-tmp-")).length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomic writes: a failure names the target and leaves neither a temporary file nor a changed target", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-atomic-" });
  try {
    await writeFileAtomic(`${dir}/x.bin`, filled(5));
    let err = "";
    try {
      await copyFileAtomic(`${dir}/missing.bin`, `${dir}/x.bin`);
    } catch (e) {
      err = String(e);
    }
    assert(err.includes(`${dir}/x.bin`) && !err.includes("\n"), err);
    assert(await complete(`${dir}/x.bin`), "target changed");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["x.bin"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
