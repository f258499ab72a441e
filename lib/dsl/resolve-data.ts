// The data section of an experiment (videos root, frames, decoders, what a bad video does) and the
// list/label file pairs the train and eval sections name: read once per load, checked against each other
// and against the class count a YAML config promises, with every videos root checked once.

import { readLabelCsv } from "../data/labels.ts";
import { checkLabels, type ListItem, readList } from "../data/lists.ts";
import { DEFAULTS, defaultWorkers } from "./defaults.ts";
import { type FileCache, newFileCache, pathKind, type ResolveContext } from "./resolve-context.ts";
import type { DataSpec, ListSpec } from "./types.ts";

export function resolveData(ctx: ResolveContext, d: DataSpec): Required<DataSpec> {
  const root = ctx.abs(d.root, "data.root");
  const frames = ctx.posInt(d.frames ?? DEFAULTS.frames, "data.frames");
  const workers = ctx.posInt(d.workers ?? defaultWorkers(), "data.workers");
  const onError = ctx.oneOf(d.onError ?? DEFAULTS.onError, "data.onError", ["fail", "skip"] as const);
  return { root, frames, workers, onError };
}

/** A list file with its label file and videos root, made absolute, read and checked. */
export interface ListFiles {
  list: string;
  labels: string;
  root: string;
  items: ListItem[];
  /** the class names, one per label */
  names: string[];
}

/** Reads the list/label pairs of one experiment's sections (see the top of this file). */
export class ListReader {
  readonly #cache: FileCache;
  readonly #checkedRoots = new Set<string>();

  /** `root` is data.root, which a section's own `root` overrides */
  constructor(readonly ctx: ResolveContext, readonly root: string) {
    this.#cache = ctx.opts.cache ?? newFileCache();
  }

  /** The pair of the section at `prefix` ("train", "evals[0]"), errors naming its fields. */
  async pair(spec: ListSpec, prefix: string): Promise<ListFiles> {
    const ctx = this.ctx;
    const list = ctx.abs(spec.list, `${prefix}.list`);
    const labels = ctx.abs(spec.labels, `${prefix}.labels`);
    const r = spec.root === undefined ? this.root : ctx.abs(spec.root, `${prefix}.root`);
    const [items, names] = await Promise.all([
      this.#items(list, `${prefix}.list`),
      this.#labels(labels, `${prefix}.labels`),
    ]);
    try {
      checkLabels(items, names, list);
    } catch (err) {
      ctx.fail(`${prefix}.list`, `${(err as Error).message} (${labels})`);
    }
    const expected = ctx.opts.expectedClasses;
    if (expected && names.length !== expected.value) {
      ctx.fail(
        expected.field,
        `is ${expected.value} but the label file ${labels} (${prefix}.labels) has ${names.length} classes`,
      );
    }
    const rootField = spec.root === undefined ? "data.root" : `${prefix}.root`;
    if (!this.#checkedRoots.has(r)) {
      this.#checkedRoots.add(r);
      await this.#checkRoot(r, rootField);
    }
    return { list, labels, root: r, items, names };
  }

  async #labels(path: string, field: string): Promise<string[]> {
    if ((await pathKind(path)) !== "file") this.ctx.fail(field, `label file ${path} does not exist`);
    let p = this.#cache.labels.get(path);
    if (!p) this.#cache.labels.set(path, p = readLabelCsv(path));
    try {
      return await p;
    } catch (err) {
      return this.ctx.fail(field, (err as Error).message);
    }
  }

  async #items(path: string, field: string): Promise<ListItem[]> {
    if ((await pathKind(path)) !== "file") this.ctx.fail(field, `list file ${path} does not exist`);
    let p = this.#cache.lists.get(path);
    if (!p) this.#cache.lists.set(path, p = readList(path));
    let items: ListItem[];
    try {
      items = await p;
    } catch (err) {
      return this.ctx.fail(field, (err as Error).message);
    }
    if (items.length === 0) this.ctx.fail(field, `list file ${path} has no videos`);
    return items;
  }

  /** A missing videos root is a warning on a dry run, which decodes nothing. */
  async #checkRoot(r: string, field: string): Promise<void> {
    // tar mode (docs/upstream.md §7.5): the archive is the path up to and including ".tar"
    const i = r.indexOf(".tar");
    const target = i >= 0 ? r.slice(0, i + 4) : r;
    if ((await pathKind(target)) === null) this.ctx.missing(field, `videos root ${target} does not exist`);
  }
}
