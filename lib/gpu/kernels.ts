// WGSL loading and specialization. Kernels live in kernels/*.wgsl and are fetched relative to this
// module, so the library works when imported from a URL as well as from disk.
//
// Specialization is a deliberately tiny preprocessor:
//   {{NAME}}            replaced by the value of spec.NAME
//   #if NAME / #if !NAME / #else / #endif   (nestable; a value is true unless 0, false or "")
//   #unroll I COUNT ... #endunroll         (the body COUNT times with {{I}} = 0, 1, …; COUNT is a
//                                           number, a spec name, or NAME/d; nestable). Register-blocked kernels
//                                           need constant indices, which some shader compilers
//                                           (lavapipe's) only get from straight-line code.
//   #include "file.wgsl"                  the text of kernels/file.wgsl in its place, before everything
//                                           above (so an included file uses {{…}}, #if and #unroll with the
//                                           includer's spec); a file is included once per shader however
//                                           many times it is named, and a cycle is refused. Code shared by
//                                           several kernels (the row reductions) is written once this way.
//                                           Expansion ignores #if, so put #include outside conditional
//                                           branches (a file first named in a skipped branch is not
//                                           included again by a later #include).
// Every spec key must be read by the file: the pipeline cache is keyed by the spec, so a key the shader
// ignores would compile identical pipelines twice.

export type SpecValue = number | string | boolean;
export type Spec = Record<string, SpecValue>;

const sources = new Map<string, Promise<string>>();

export function kernelUrl(file: string): URL {
  return new URL(`../../kernels/${file}`, import.meta.url);
}

/**
 * A name the kernels folder can hold: letters, digits, "_" and "-" then ".wgsl" — no "/", "..", or encoded
 * separators. Servers that hand kernels to a page (the browser harness, the dashboard) accept only these.
 */
export const KERNEL_FILE = /^[A-Za-z0-9_-]+\.wgsl$/;

/** The text of kernels/<file>, fetched once per process. */
export function kernelSource(file: string): Promise<string> {
  let p = sources.get(file);
  if (!p) {
    const url = kernelUrl(file);
    p = (async () => {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`vifi: cannot load kernel ${url.href}: HTTP ${res.status}`);
      return await res.text();
    })();
    p.catch(() => sources.delete(file));
    sources.set(file, p);
  }
  return p;
}

const INCLUDE = /^\s*#include\s+"([A-Za-z0-9_.\-\/]+)"\s*$/;

/**
 * The source with every `#include "f.wgsl"` replaced by the (recursively expanded) text of kernels/f.wgsl,
 * read through `load` (kernelSource: fetched relative to this module, so it works from a URL). A file
 * already included elsewhere is left out the second time (its declarations would clash); a file that
 * includes itself through any chain, or one that cannot be loaded, is a one-line error naming it.
 */
export async function expandIncludes(
  source: string,
  file: string,
  load: (file: string) => Promise<string> = kernelSource,
): Promise<string> {
  const done = new Set<string>([file]);
  const expand = async (text: string, chain: string[]): Promise<string> => {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const m = INCLUDE.exec(lines[i]);
      if (!m) {
        if (/^\s*#include\b/.test(lines[i])) {
          throw new Error(
            `vifi: kernels/${chain.at(-1)}:${i + 1}: malformed #include (want #include "file.wgsl")`,
          );
        }
        continue;
      }
      const inc = m[1];
      const at = `kernels/${chain.at(-1)}:${i + 1}`;
      if (chain.includes(inc)) {
        throw new Error(`vifi: ${at}: #include "${inc}" makes a cycle: ${[...chain, inc].join(" -> ")}`);
      }
      if (done.has(inc)) {
        lines[i] = "";
        continue;
      }
      done.add(inc);
      let body: string;
      try {
        body = await load(inc);
      } catch (e) {
        throw new Error(
          `vifi: ${at}: #include "${inc}" cannot be loaded: ${e instanceof Error ? e.message : e}`,
        );
      }
      lines[i] = await expand(body, [...chain, inc]);
    }
    return lines.join("\n");
  };
  return await expand(source, [file]);
}

/** kernels/<file> with its #includes expanded: the text preprocess() specializes. */
export async function kernelText(file: string): Promise<string> {
  return await expandIncludes(await kernelSource(file), file);
}

function truthy(v: SpecValue | undefined): boolean {
  return v !== undefined && v !== false && v !== 0 && v !== "" && v !== "0";
}

function unroll(lines: string[], spec: Spec, used: Set<string>, file: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*#unroll\s+([A-Za-z_][A-Za-z0-9_]*)\s+([A-Za-z0-9_]+)(?:\/(\d+))?\s*$/.exec(lines[i]);
    if (!m) {
      if (/^\s*#endunroll\s*$/.test(lines[i])) {
        throw new Error(`vifi: kernels/${file}: #endunroll without #unroll`);
      }
      out.push(lines[i]);
      continue;
    }
    let depth = 1;
    let j = i + 1;
    for (; j < lines.length; j++) {
      if (/^\s*#unroll\s/.test(lines[j])) depth++;
      else if (/^\s*#endunroll\s*$/.test(lines[j]) && --depth === 0) break;
    }
    if (depth) throw new Error(`vifi: kernels/${file}: #unroll ${m[1]} is not closed`);
    let count: number;
    if (/^\d+$/.test(m[2])) {
      count = Number(m[2]);
    } else {
      if (!(m[2] in spec)) {
        throw new Error(`vifi: kernels/${file}: #unroll ${m[1]} ${m[2]} but the spec has no ${m[2]}`);
      }
      used.add(m[2]);
      count = Number(spec[m[2]]);
    }
    if (m[3]) count = Math.floor(count / Number(m[3]));
    const body = unroll(lines.slice(i + 1, j), spec, used, file);
    const pattern = new RegExp(`\\{\\{${m[1]}\\}\\}`, "g");
    for (let k = 0; k < count; k++) for (const line of body) out.push(line.replace(pattern, String(k)));
    i = j;
  }
  return out;
}

export function preprocess(source: string, spec: Spec, file = "<inline>"): string {
  const used = new Set<string>();
  const out: string[] = [];
  // Each frame: is this branch emitting, did an earlier branch of this #if emit, was the parent emitting.
  const stack: { on: boolean; parent: boolean }[] = [];
  const emitting = () => stack.length === 0 || stack[stack.length - 1].on;
  const lines = unroll(source.split("\n"), spec, used, file);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const t = line.trim();
    if (t.startsWith("#include")) {
      throw new Error(
        `vifi: kernels/${file}:${i + 1}: #include left in the text (expand it with kernelText)`,
      );
    }
    const m = /^#if\s+(!?)([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(t);
    if (m) {
      used.add(m[2]);
      if (!(m[2] in spec)) {
        throw new Error(`vifi: kernels/${file}:${i + 1}: #if ${m[2]} but the spec has no ${m[2]}`);
      }
      const cond = truthy(spec[m[2]]) !== (m[1] === "!");
      const parent = emitting();
      stack.push({ on: parent && cond, parent });
      continue;
    }
    if (t === "#else") {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`vifi: kernels/${file}:${i + 1}: #else without #if`);
      top.on = top.parent && !top.on;
      continue;
    }
    if (t === "#endif") {
      if (!stack.pop()) throw new Error(`vifi: kernels/${file}:${i + 1}: #endif without #if`);
      continue;
    }
    if (!emitting()) {
      // Names in skipped branches still count as read: the branch choice depends on them.
      for (const mm of line.matchAll(/\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}/g)) used.add(mm[1]);
      out.push("");
      continue;
    }
    out.push(line.replace(/\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}/g, (_, name: string) => {
      used.add(name);
      if (!(name in spec)) {
        throw new Error(`vifi: kernels/${file}:${i + 1}: {{${name}}} but the spec has no ${name}`);
      }
      return String(spec[name]);
    }));
  }
  if (stack.length) throw new Error(`vifi: kernels/${file}: unterminated #if`);
  for (const key of Object.keys(spec)) {
    if (!used.has(key)) throw new Error(`vifi: kernels/${file}: spec key ${key} is not read by the shader`);
  }
  return out.join("\n");
}

export function specKey(spec: Spec): string {
  return Object.keys(spec).sort().map((k) => `${k}=${spec[k]}`).join(",");
}

/** Pipelines keyed by file, entry point and spec: nothing else (no shapes) goes into the key. */
export class PipelineCache {
  private modules = new Map<string, Promise<GPUShaderModule>>();
  private pipelines = new Map<string, Promise<GPUComputePipeline>>();
  compiled = 0;

  constructor(private device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  pipeline(file: string, entry: string, spec: Spec = {}): Promise<GPUComputePipeline> {
    const sk = specKey(spec);
    const key = `${file}#${entry}|${sk}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.build(file, entry, spec, sk);
      p.catch(() => this.pipelines.delete(key));
      this.pipelines.set(key, p);
    }
    return p;
  }

  private module(file: string, spec: Spec, sk: string): Promise<GPUShaderModule> {
    const key = `${file}|${sk}`;
    let p = this.modules.get(key);
    if (!p) {
      p = (async () => {
        const code = preprocess(await kernelText(file), spec, file);
        this.device.pushErrorScope("validation");
        const module = this.device.createShaderModule({ code, label: `${file} ${sk}` });
        const info = await module.getCompilationInfo();
        const err = await this.device.popErrorScope();
        const errors = info.messages.filter((m) => m.type === "error");
        if (errors.length || err) {
          const detail = errors.map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`).join("\n") ||
            `  ${err?.message}`;
          throw new Error(`vifi: kernels/${file} (${sk}) does not compile:\n${detail}`);
        }
        return module;
      })();
      p.catch(() => this.modules.delete(key));
      this.modules.set(key, p);
    }
    return p;
  }

  private async build(file: string, entry: string, spec: Spec, sk: string): Promise<GPUComputePipeline> {
    const module = await this.module(file, spec, sk);
    this.device.pushErrorScope("validation");
    const pipeline = this.device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: entry },
      label: `${file}#${entry} ${sk}`,
    });
    const err = await this.device.popErrorScope();
    if (err) throw new Error(`vifi: kernels/${file} entry ${entry} (${sk}): ${err.message}`);
    this.compiled++;
    return pipeline;
  }
}
