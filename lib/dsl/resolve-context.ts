// What every section of an experiment is resolved with: the error that names the file, the experiment and
// the field; the options of one load (its cwd, dry run, shared file cache); and the field checks the
// sections share, so that every message about a bad value reads the same.

import { resolveAgainst } from "../io/paths.ts";
import type { ListItem } from "../data/lists.ts";
import { defaultCwd } from "./defaults.ts";

/** A problem with an experiment; the message starts with `<file>: experiment "<name>": <field>:`. */
export class ExperimentError extends Error {
  constructor(
    readonly file: string,
    readonly experiment: string,
    readonly field: string,
    /** the message without the location prefix */
    readonly detail: string,
  ) {
    super(`${file}: experiment ${JSON.stringify(experiment)}: ${field}: ${detail}`);
    this.name = "ExperimentError";
  }
}

export interface ResolveOptions {
  /** file the experiment came from; named in every error */
  source: string;
  /** relative paths resolve against it; default `INIT_CWD` (set by `deno task`/npm) or the process cwd */
  cwd?: string;
  /**
   * `--dry-run`: a missing videos root or weight file becomes a warning in `warnings` instead of an
   * error (list and label files are still required: the dry run reads them)
   */
  dryRun?: boolean;
  /** a class count the label files must have, e.g. DATA.NUM_CLASSES of a YAML config */
  expectedClasses?: { value: number; field: string };
  /** list and label files already read, shared between the experiments of one load */
  cache?: FileCache;
}

/** Parsed list and label files by absolute path. */
export interface FileCache {
  lists: Map<string, Promise<ListItem[]>>;
  labels: Map<string, Promise<string[]>>;
}

export function newFileCache(): FileCache {
  return { lists: new Map(), labels: new Map() };
}

export async function pathKind(p: string): Promise<"file" | "dir" | null> {
  try {
    const s = await Deno.stat(p);
    return s.isDirectory ? "dir" : "file";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

/**
 * One experiment being resolved: the file and name every error carries, the folder relative paths resolve
 * against, the warnings a dry run collects instead of failing, and the checks of single values.
 */
export class ResolveContext {
  /** problems a dry run reports instead of failing on, in the order they were found */
  readonly warnings: string[] = [];
  readonly source: string;
  readonly cwd: string;

  constructor(readonly name: string, readonly opts: ResolveOptions) {
    this.source = opts.source;
    this.cwd = opts.cwd ?? defaultCwd();
  }

  fail(field: string, msg: string): never {
    throw new ExperimentError(this.source, this.name, field, msg);
  }

  /** A missing file or folder the run needs: an error, or on a dry run a warning. */
  missing(field: string, msg: string): void {
    if (this.opts.dryRun) this.warnings.push(`${field}: ${msg}`);
    else this.fail(field, msg);
  }

  abs(p: string, field: string): string {
    if (typeof p !== "string" || p === "") this.fail(field, `expected a path, got ${JSON.stringify(p)}`);
    return resolveAgainst(this.cwd, p);
  }

  /** An optional path that must name a file (see {@link missing}); made absolute. */
  async optionalFile(p: string | undefined, field: string, what: string): Promise<string | undefined> {
    if (p === undefined) return undefined;
    const a = this.abs(p, field);
    if ((await pathKind(a)) !== "file") this.missing(field, `${what} ${a} does not exist`);
    return a;
  }

  posInt(v: unknown, field: string): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      this.fail(field, `must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v as number;
  }

  nonNegInt(v: unknown, field: string): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      this.fail(field, `must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    return v as number;
  }

  inRange(v: unknown, field: string, lo: number, hi: number, hiOpen = false): number {
    if (typeof v !== "number" || !Number.isFinite(v) || v < lo || (hiOpen ? v >= hi : v > hi)) {
      this.fail(field, `must be a number in [${lo}, ${hi}${hiOpen ? ")" : "]"}, got ${JSON.stringify(v)}`);
    }
    return v as number;
  }

  nonNeg(v: unknown, field: string): number {
    return this.inRange(v, field, 0, Infinity);
  }

  oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
    if (!allowed.includes(v as T)) {
      this.fail(
        field,
        `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(v)}`,
      );
    }
    return v as T;
  }
}
