// One entry point for `vifi train|eval --dry-run <file>`: an `.exp.ts` module (default export: an
// Experiment or an array of them) or an upstream `.yaml` config, resolved and validated.

import { resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import type { Experiment, ResolvedExperiment } from "./types.ts";
import { defaultCwd, ExperimentError, newFileCache, resolveExperiment } from "./resolve.ts";
import { type ConfigFlags, YAML_KEYS, yamlExperiment } from "./yaml.ts";

export interface LoadOptions {
  /** `--opts KEY VALUE …` (YAML configs only) */
  opts?: string[];
  /** relative paths resolve here; default INIT_CWD or the process cwd */
  cwd?: string;
  /** the command-line flags, which win over the file (and over `--opts`) */
  overrides?: ConfigFlags;
  /** report a missing videos root or weight file as a warning instead of failing */
  dryRun?: boolean;
  /** where OpenAI's CLIP releases are cached (YAML configs); default VIFI_CACHE or ~/.cache/vifi */
  cacheDir?: string;
}

function isExperiment(v: unknown): v is Experiment {
  return typeof v === "object" && v !== null && !Array.isArray(v) && "name" in v;
}

/** `--output` on a sweep puts each member in its own folder below it. */
function applyFlags(list: Experiment[], f: ConfigFlags, cwd: string): Experiment[] {
  return list.map((e0) => {
    const e = structuredClone(e0);
    if (f.output !== undefined) {
      e.output = list.length > 1 ? `${resolvePath(cwd, f.output)}/${e.name}` : resolvePath(cwd, f.output);
    }
    if (f.onlyTest) delete e.train;
    if (f.resume !== undefined && f.resume !== "") {
      if (e.train) e.train.resume = { path: f.resume, mode: "init" };
      else e.model.weights = f.resume;
    }
    if (e.train && f.batchSize !== undefined) e.train.batch = f.batchSize;
    if (e.train && f.accumulationSteps !== undefined) {
      // the flag wins over the file: the effective batch follows from it
      e.train.accumulation = f.accumulationSteps;
      delete e.train.effectiveBatch;
    }
    if (e.train && f.worldSize !== undefined) e.train.worldSize = f.worldSize;
    return e;
  });
}

/** Loads, resolves and validates every experiment of a file. Throws ExperimentError / ConfigError. */
export async function loadExperiments(path: string, o: LoadOptions = {}): Promise<ResolvedExperiment[]> {
  const cwd = o.cwd ?? defaultCwd();
  const file = resolvePath(cwd, path);
  const cache = newFileCache();
  if (/\.ya?ml$/i.test(file)) {
    const { experiment, numClasses } = await yamlExperiment(file, {
      opts: o.opts,
      flags: o.overrides,
      cwd,
      cacheDir: o.cacheDir,
    });
    try {
      return [
        await resolveExperiment(experiment, {
          source: file,
          cwd,
          dryRun: o.dryRun,
          cache,
          expectedClasses: { value: numClasses, field: "DATA.NUM_CLASSES" },
        }),
      ];
    } catch (e) {
      if (e instanceof ExperimentError && YAML_KEYS[e.field]) {
        throw new ExperimentError(
          e.file,
          e.experiment,
          `${e.field} (${YAML_KEYS[e.field]})`,
          e.detail,
        );
      }
      throw e;
    }
  }
  if (!/\.ts$/.test(file)) {
    throw new Error(`${file}: expected an experiment module (.exp.ts) or an upstream config (.yaml)`);
  }
  if (o.opts && o.opts.length > 0) {
    throw new Error(`${file}: --opts sets upstream config keys and applies to .yaml configs only`);
  }
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    throw new Error(`${file}: cannot import the experiment module: ${(e as Error).message}`);
  }
  const d = mod.default;
  const list = Array.isArray(d) ? d : [d];
  if (list.length === 0 || !list.every(isExperiment)) {
    throw new Error(`${file}: the default export must be an Experiment or an array of Experiments`);
  }
  const names = new Set<string>();
  for (const e of list) {
    if (names.has(e.name)) throw new Error(`${file}: two experiments are named ${JSON.stringify(e.name)}`);
    names.add(e.name);
  }
  const exps = applyFlags(list, o.overrides ?? {}, cwd);
  const out: ResolvedExperiment[] = [];
  for (const e of exps) out.push(await resolveExperiment(e, { source: file, cwd, dryRun: o.dryRun, cache }));
  return out;
}
