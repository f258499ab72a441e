// A class prompt longer than the model's text context stops training only once the model is loaded; the
// dry run tokenizes every label file's prompts with the experiment's tokenizer and refuses it up front,
// naming the class and the prompt.

import { assert, assertRejects, tempTree } from "./assert.ts";
import { resolveExperiment } from "../../lib/dsl/resolve.ts";
import { runCli } from "../run_cli.ts";

// the tiny architecture's text context is 16 byte tokens with SOT and EOT
const FILES = {
  "labels.csv": "id,name\n0,run\n1,jump\n",
  "long.csv": "id,name\n0,run\n1,juggling three balls\n",
  "train.txt": "a.mp4 0\nb.mp4 1\n",
  "videos/.keep": "",
};

// deno-lint-ignore no-explicit-any
function exp(over: Record<string, any> = {}): any {
  return {
    name: "p",
    model: { arch: "tiny", tokenizer: "bytes", template: "{name}" },
    data: { root: "videos" },
    train: { list: "train.txt", labels: "labels.csv" },
    evals: [{ name: "val", list: "train.txt", labels: "labels.csv" }],
    ...over,
  };
}

Deno.test("resolve: a class prompt over the text context fails naming the field, class and prompt", async () => {
  const dir = await tempTree(FILES);
  try {
    const opts = { source: "/x/p.exp.ts", cwd: dir, dryRun: true };
    const ok = await resolveExperiment(exp(), opts);
    assert(ok.train !== undefined, "short prompts resolve");
    await assertRejects(
      () => resolveExperiment(exp({ model: { arch: "tiny", tokenizer: "bytes" } }), opts),
      'train.labels: class 0 "run": the prompt "a photo of a run." is 19 tokens',
      "text context of 16",
    );
    await assertRejects(
      () =>
        resolveExperiment(
          exp({ evals: [{ name: "val", list: "train.txt", labels: "long.csv" }] }),
          opts,
        ),
      'evals[0].labels: class 1 "juggling three balls": the prompt "juggling three balls"',
    );
    // an evaluation's own template counts
    await assertRejects(
      () =>
        resolveExperiment(
          exp({
            evals: [{
              name: "val",
              list: "train.txt",
              labels: "labels.csv",
              template: "{name} {name} {name} x",
            }],
          }),
          opts,
        ),
      'evals[0].labels: class 1 "jump": the prompt "jump jump jump x"',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --dry-run: an over-long prompt exits 1 with one line naming the file, class and prompt", async () => {
  const dir = await tempTree(FILES);
  // relative paths resolve against the working directory, not the file's
  await Deno.writeTextFile(
    `${dir}/long.exp.ts`,
    `export default {
  name: "long",
  model: { arch: "tiny", tokenizer: "bytes", template: "a video of a person doing {name}" },
  data: { root: "${dir}/videos" },
  train: { list: "${dir}/train.txt", labels: "${dir}/labels.csv" },
  evals: [],
};
`,
  );
  try {
    const r = await runCli("train", `${dir}/long.exp.ts`, "--dry-run", "--no-store");
    const lines = r.err.trim().split("\n");
    assert(r.code === 1, `exit ${r.code}: ${r.err}`);
    assert(lines.length === 1, r.err);
    assert(lines[0].includes(`${dir}/long.exp.ts`) && lines[0].includes('class 0 "run"'), lines[0]);
    assert(lines[0].includes('"a video of a person doing run"'), lines[0]);
    assert(r.out === "", `printed ${r.out}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
