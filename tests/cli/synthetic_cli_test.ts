// `deno task synthetic DIR` does not write over a folder that holds something (a dataset that runs were
// trained on) unless --force is given.

import { expect, runCli } from "./fixture.ts";

const SMALL = ["--clips-per-class", "1", "--frames", "2", "--size", "16", "--json"];

Deno.test("synthetic CLI: an existing dataset is refused naming DIR and --force; --force writes over it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-synthetic-cli-" });
  try {
    const data = `${dir}/data`;
    const first = await runCli("synthetic", data, ...SMALL);
    expect(first.code === 0, `first run: exit ${first.code}: ${first.err}`);
    const marker = `${data}/labels.csv`;
    const before = (await Deno.stat(marker)).mtime!.getTime();

    const again = await runCli("synthetic", data, ...SMALL, "--seed", "3");
    expect(again.code === 1, `second run: exit ${again.code}: ${again.err}`);
    const line = again.err.trim();
    expect(!line.includes("\n") && line.includes(data) && line.includes("--force"), line);
    expect((await Deno.stat(marker)).mtime!.getTime() === before, "the refused run touched labels.csv");

    await Deno.writeTextFile(`${dir}/file`, "x");
    const file = await runCli("synthetic", `${dir}/file`, ...SMALL);
    expect(file.code === 1 && file.err.includes(`${dir}/file`), `a file as DIR: ${file.code} ${file.err}`);

    const forced = await runCli("synthetic", data, ...SMALL, "--seed", "3", "--force");
    expect(forced.code === 0, `--force: exit ${forced.code}: ${forced.err}`);
    expect(JSON.parse(forced.out).seed === 3, forced.out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
