// The import graph of the repository's code, and what is wrong with it: an import that runs up the
// layer order, an import of a file that does not exist, a cycle between files. docs/architecture.md
// explains the layers; LAYERS below is the one place their order is written.

import { dirname, join, normalize } from "node:path";

/**
 * Bottom to top. A file may import files of its own layer or of a layer below it, never above.
 * `lib/<folder>/…` is the layer <folder>; web/ is "web", mod.ts "mod", experiments/ "experiments".
 */
export const LAYERS = [
  "random",
  "io",
  "dist",
  "gpu",
  "tensor",
  "autograd",
  "selftest",
  "text",
  "video",
  "data",
  "models",
  "tune",
  "dsl",
  "results",
  "train",
  "cluster",
  "predict",
  "browser",
  "web",
  "mod",
  "experiments",
  "cli",
] as const;

export type Layer = typeof LAYERS[number];

/** The layer a repository path belongs to; undefined for a path outside the layered code. */
export function layerOf(path: string): Layer | undefined {
  const parts = path.split("/");
  let name: string | undefined;
  if (parts[0] === "lib" && parts.length > 2) name = parts[1];
  else if (parts[0] === "web") name = "web";
  else if (parts[0] === "experiments") name = "experiments";
  else if (path === "mod.ts") name = "mod";
  return (LAYERS as readonly string[]).includes(name ?? "") ? name as Layer : undefined;
}

/** A reference from one file to another: `from` imports (or starts as a worker) `to`. */
export interface Edge {
  from: string;
  to: string;
  line: number;
}

// import/export … from "x", import "x", import("x"), and new URL("x.ts", import.meta.url) (workers,
// processes started from a sibling file). Data files referenced by URL are not code and not edges.
const SPECIFIER =
  /\b(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)|new URL\(\s*["']([^"']+\.tsx?)["']\s*,\s*import\.meta\.url/g;

/** Blank out comments so an example import in a comment is not read as one (strings are kept). */
function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(
    /(^|[^:"'`\\])\/\/[^\n]*/g,
    (m, pre) => pre + " ".repeat(m.length - pre.length),
  );
}

/** The relative references of one file (npm:, node:, jsr: and URL imports are not the repository's). */
export function edgesOf(path: string, source: string): Edge[] {
  const text = stripComments(source);
  const edges: Edge[] = [];
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2] ?? m[3] ?? m[4];
    if (!spec.startsWith("./") && !spec.startsWith("../")) continue;
    const line = text.slice(0, m.index).split("\n").length;
    edges.push({ from: path, to: normalize(join(dirname(path), spec)), line });
  }
  return edges;
}

export interface Violation {
  kind: "upward" | "missing" | "cycle";
  message: string;
}

/** Every upward import, missing target and cycle among `files` (repository path → source text). */
export function houseViolations(files: Map<string, string>): Violation[] {
  const out: Violation[] = [];
  const graph = new Map<string, string[]>();
  for (const [path, source] of files) {
    const targets: string[] = [];
    for (const e of edgesOf(path, source)) {
      if (!files.has(e.to)) {
        out.push({ kind: "missing", message: `${path}:${e.line} imports ${e.to}, which is not there` });
        continue;
      }
      targets.push(e.to);
      const a = layerOf(path), b = layerOf(e.to);
      if (a && b && LAYERS.indexOf(b) > LAYERS.indexOf(a)) {
        out.push({
          kind: "upward",
          message: `${path}:${e.line} (${a}) imports ${e.to} (${b}), a higher layer`,
        });
      }
    }
    graph.set(path, targets);
  }
  for (const cycle of cyclesOf(graph)) {
    out.push({ kind: "cycle", message: `import cycle: ${cycle.join(" → ")} → ${cycle[0]}` });
  }
  return out;
}

/** The strongly connected components with more than one file (Tarjan), each as a list of files. */
export function cyclesOf(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.reverse());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The repository's own code: lib/, web/, experiments/ and mod.ts, by repository path. */
export async function repositoryCode(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(join(root, dir))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (/\.tsx?$/.test(e.name)) files.set(path, await Deno.readTextFile(join(root, path)));
    }
  };
  for (const dir of ["lib", "web", "experiments"]) await walk(dir);
  files.set("mod.ts", await Deno.readTextFile(join(root, "mod.ts")));
  return files;
}
