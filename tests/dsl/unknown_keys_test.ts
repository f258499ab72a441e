// `train` runs an .exp.ts without type checking, so a misspelt key would be ignored and the run would use
// the default instead. Every key the Experiment interfaces do not have is refused at resolve time, naming
// the file and the key's full path, at any depth.

import { assert, assertRejects, tempTree } from "./assert.ts";
import { resolveExperiment } from "../../lib/dsl/resolve.ts";
import { loadExperiments } from "../../lib/dsl/load.ts";

const FILES = {
  "labels.csv": "id,name\n0,archery\n1,bowling\n",
  "train.txt": "a.mp4 0\nb.mp4 1\n",
  "videos/.keep": "",
};

// deno-lint-ignore no-explicit-any
function exp(extra: (e: any) => void): any {
  const e = {
    name: "t",
    model: {
      arch: "tiny",
      variant: "prompt",
      prompt: { textCtx: 2, visionCtx: 0, textDepth: 1, visionDepth: 0 },
    },
    data: { root: "videos" },
    train: { list: "train.txt", labels: "labels.csv", resume: undefined },
    evals: [{ name: "val", list: "train.txt", labels: "labels.csv" }],
  };
  extra(e);
  return e;
}

Deno.test("resolve: unknown keys at every depth are refused with their path and a suggestion", async () => {
  const dir = await tempTree(FILES);
  try {
    const opts = { source: "/x/my.exp.ts", cwd: dir };
    // deno-lint-ignore no-explicit-any
    const cases: [(e: any) => void, string[]][] = [
      [(e) => e.epoch = 3, ['/x/my.exp.ts: experiment "t": epoch: unknown key', "an experiment takes name,"]],
      [(e) => e.modle = {}, ['"t": modle: unknown key (did you mean "model"?)']],
      [(e) => e.train.epoch = 3, [
        '"t": train.epoch: unknown key (did you mean "epochs"?)',
        "train takes list,",
      ]],
      [(e) => e.train.learningRate = 1e-5, ['"t": train.learningRate: unknown key;', "lr,"]],
      [(e) => e.evals[0].clip = 4, ["evals[0].clip: unknown key"]],
      [(e) => e.model.prompt.textctx = 4, ["model.prompt.textctx: unknown key"]],
      [(e) => e.train.resume = { path: "x", mode: "init", step: 3 }, ["train.resume.step: unknown key"]],
      [(e) => e.data.frame = 16, ['data.frame: unknown key (did you mean "frames"?)']],
      [(e) => e.protocol = { kind: "custom", shot: 2 }, ["protocol.shot: unknown key"]],
    ];
    for (const [edit, want] of cases) await assertRejects(() => resolveExperiment(exp(edit), opts), ...want);
    // undefined-valued known keys and the full key set at every level are accepted
    const ok = await resolveExperiment(exp(() => {}), opts);
    assert(ok.train !== undefined && ok.model.prompt?.textCtx === 2, "a valid experiment resolved");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadExperiments: an .exp.ts with a misspelt key fails naming the file and the key", async () => {
  const dir = await tempTree({
    ...FILES,
    "bad.exp.ts": `export default [
  { name: "ok", model: { arch: "tiny" }, data: { root: "videos" }, evals: [{ name: "v", list: "train.txt", labels: "labels.csv" }] },
  { name: "bad", model: { arch: "tiny" }, data: { root: "videos" },
    train: { list: "train.txt", labels: "labels.csv", epoch: 3 }, evals: [] },
];
`,
  });
  try {
    await assertRejects(
      () => loadExperiments("bad.exp.ts", { cwd: dir, dryRun: true }),
      `${dir}/bad.exp.ts: experiment "bad": train.epoch: unknown key (did you mean "epochs"?)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
