// The evaluations of an experiment: each a uniquely named list/label pair with its test views, prompt
// template, subset or split, and whether it scores only what the upstream's validation scores (dropLast).

import { DEFAULTS } from "./defaults.ts";
import type { ResolveContext } from "./resolve-context.ts";
import type { ListReader } from "./resolve-data.ts";
import { checkTemplate, type ClassPrompts } from "./resolve-prompts.ts";
import type { EvalSpec, ResolvedEval } from "./types.ts";

/** What the evaluations need from the sections resolved before them. */
export interface EvalInputs {
  /** whether the experiment trains: without a train section it must evaluate something */
  trains: boolean;
  /** model.template, the default of each evaluation's template */
  template: string;
  lists: ListReader;
  /** each evaluation's label file prompts are added here, to be checked against the text context */
  prompts: ClassPrompts[];
}

export async function resolveEvals(
  ctx: ResolveContext,
  specs: EvalSpec[],
  inp: EvalInputs,
): Promise<ResolvedEval[]> {
  if (!inp.trains && specs.length === 0) {
    ctx.fail("evals", "no train section and no evaluations: nothing to run");
  }
  const names = new Set<string>();
  const evals: ResolvedEval[] = [];
  for (let i = 0; i < specs.length; i++) {
    const ev: EvalSpec = specs[i];
    const prefix = `evals[${i}]`;
    if (typeof ev?.name !== "string" || ev.name === "") ctx.fail(`${prefix}.name`, "missing");
    if (names.has(ev.name)) {
      ctx.fail(`${prefix}.name`, `two evaluations are named ${JSON.stringify(ev.name)}`);
    }
    names.add(ev.name);
    evals.push(await resolveEval(ctx, ev, prefix, inp));
  }
  return evals;
}

/** One evaluation, its fields named `<prefix>.<field>`. */
async function resolveEval(
  ctx: ResolveContext,
  ev: EvalSpec,
  prefix: string,
  inp: EvalInputs,
): Promise<ResolvedEval> {
  const files = await inp.lists.pair(ev, prefix);
  const template = ev.template ?? inp.template;
  checkTemplate(ctx, template, `${prefix}.template`);
  inp.prompts.push({ field: `${prefix}.labels`, names: files.names, template });
  if (ev.subset !== undefined) ctx.oneOf(ev.subset, `${prefix}.subset`, ["base", "novel", "all"] as const);
  if (ev.split !== undefined) ctx.posInt(ev.split, `${prefix}.split`);
  if (ev.dropLast !== undefined && typeof ev.dropLast !== "boolean") {
    ctx.fail(`${prefix}.dropLast`, `must be true or false, got ${JSON.stringify(ev.dropLast)}`);
  }
  return {
    name: ev.name,
    list: files.list,
    labels: files.labels,
    root: files.root,
    clips: ctx.posInt(ev.clips ?? DEFAULTS.clips, `${prefix}.clips`),
    crops: ctx.posInt(ev.crops ?? DEFAULTS.crops, `${prefix}.crops`),
    template,
    dropLast: ev.dropLast ?? false,
    worldSize: ctx.posInt(ev.worldSize ?? 8, `${prefix}.worldSize`),
    ...(ev.dataset !== undefined ? { dataset: ev.dataset } : {}),
    ...(ev.split !== undefined ? { split: ev.split } : {}),
    ...(ev.subset !== undefined ? { subset: ev.subset } : {}),
  };
}
