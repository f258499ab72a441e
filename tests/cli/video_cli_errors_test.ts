// `deno task video` with bad input: every refusal is one line naming the file or folder (no stack trace),
// usage mistakes exit 2 and files that cannot be read or written exit 1.

import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { runCli } from "../run_cli.ts";

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

/** One line on stderr, nothing on stdout, no stack frame. */
function oneLine(r: { code: number; out: string; err: string }, code: number, what: string) {
  check(r.code === code, `${what}: exit ${r.code}, want ${code}\n${r.err}`);
  check(r.out === "", `${what}: printed ${r.out}`);
  const lines = r.err.trimEnd().split("\n");
  check(code === 2 || lines.length === 1, `${what}: ${lines.length} lines on stderr:\n${r.err}`);
  check(!/\n\s+at /.test(r.err), `${what}: stack trace:\n${r.err}`);
  return lines[0];
}

/**
 * A folder this process cannot write to. Root ignores permission bits, so an immutable folder (chattr +i)
 * stands in there; where neither works the caller learns so and says it.
 */
async function readOnlyFolder(dir: string): Promise<(() => Promise<void>) | undefined> {
  const ro = `${dir}/read-only`;
  await Deno.mkdir(ro);
  await Deno.chmod(ro, 0o555);
  const writable = async () => {
    try {
      await Deno.writeFile(`${ro}/probe`, new Uint8Array(0));
      await Deno.remove(`${ro}/probe`);
      return true;
    } catch {
      return false;
    }
  };
  if (!(await writable())) return async () => await Deno.chmod(ro, 0o755);
  const chattr = (flag: string) =>
    new Deno.Command("chattr", { args: [flag, ro], stderr: "null" }).output().then(
      (o) => o.success,
      () => false,
    );
  if ((await chattr("+i")) && !(await writable())) return async () => void (await chattr("-i"));
  return undefined;
}

Deno.test("video CLI: --crops 7, a folder as FILE, and a read-only --dump folder are one-line errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-video-cli-" });
  try {
    const data = await generateSynthetic(`${dir}/data`, {
      seed: 1,
      clipsPerClass: 1,
      frames: 4,
      size: 32,
      colours: ["red", "blue"],
      shapes: ["circle"],
      motions: ["left"],
    });
    const video = `${dir}/data/${data.clips[0].path}`;

    const crops = oneLine(await runCli("video", video, "--crops", "7"), 2, "--crops 7");
    check(/--crops must be 1 or 3.*got 7/.test(crops), crops);
    const three = await runCli("video", video, "--crops", "3");
    check(three.code === 0 && three.out.includes("×3 crops"), `--crops 3: exit ${three.code}\n${three.err}`);

    await Deno.mkdir(`${dir}/clip.mp4`);
    const folder = oneLine(await runCli("video", `${dir}/clip.mp4`), 1, "a folder");
    check(folder.includes(`${dir}/clip.mp4`) && /folder/.test(folder), folder);

    const missing = oneLine(await runCli("video", `${dir}/none.mp4`), 1, "a missing file");
    check(missing.includes(`${dir}/none.mp4`), missing);

    const undo = await readOnlyFolder(dir);
    if (!undo) {
      console.warn(
        "read-only --dump case skipped: this user can write to a chmod 555 folder and chattr failed",
      );
    } else {
      try {
        const dump = oneLine(await runCli("video", video, "--dump", `${dir}/read-only`), 1, "read-only dump");
        check(dump.includes(`${dir}/read-only`) && /dump folder/.test(dump), dump);
        const below = oneLine(
          await runCli("video", video, "--dump", `${dir}/read-only/sub`),
          1,
          "dump below",
        );
        check(below.includes(`${dir}/read-only/sub`), below);
      } finally {
        await undo();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
