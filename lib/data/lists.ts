// Video list files (`<relative path> <int label>`, docs/upstream.md §7.5) and the dataset description the loaders
// consume. The shipped lists mix CRLF and LF and some lack a final newline, so parsing is by
// whitespace-separated records; anything else is an error naming file and line, because a silently
// skipped line would shift no labels but would quietly shrink an evaluation set.

import { readLabelCsv } from "./labels.ts";
import { readTarIndex, type TarIndex } from "./tar.ts";

export class ListError extends Error {
  constructor(readonly fileName: string, readonly line: number, message: string) {
    super(`${fileName}:${line}: ${message}`);
    this.name = "ListError";
  }
}

export interface ListItem {
  path: string;
  label: number;
}

export interface Dataset {
  /** DATA.ROOT: the list's paths are relative to it */
  root: string;
  labels: string[];
  items: ListItem[];
}

export function parseList(text: string, fileName: string): ListItem[] {
  const items: ListItem[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === "") continue;
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2) {
      throw new ListError(
        fileName,
        i + 1,
        `expected "<path> <label>", got ${parts.length} field(s): ${JSON.stringify(line)}`,
      );
    }
    if (!/^[0-9]+$/.test(parts[1])) {
      throw new ListError(fileName, i + 1, `label ${JSON.stringify(parts[1])} is not a non-negative integer`);
    }
    items.push({ path: parts[0], label: Number(parts[1]) });
  }
  return items;
}

export async function readList(path: string): Promise<ListItem[]> {
  return parseList(await Deno.readTextFile(path), path);
}

/** Checks every label indexes `labels`; the error names the list and the first offending record. */
export function checkLabels(items: ListItem[], labels: string[], fileName: string): void {
  for (let i = 0; i < items.length; i++) {
    if (items[i].label >= labels.length) {
      throw new Error(
        `${fileName}: record ${i + 1} (${items[i].path}) has label ${
          items[i].label
        } but the label file has ${labels.length} classes`,
      );
    }
  }
}

export async function loadDataset(root: string, listPath: string, labelPath: string): Promise<Dataset> {
  const [items, labels] = await Promise.all([readList(listPath), readLabelCsv(labelPath)]);
  checkLabels(items, labels, listPath);
  return { root, labels, items };
}

function dirname(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : p.slice(0, i);
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}

export function joinPath(root: string, rel: string): string {
  if (rel.startsWith("/")) return rel;
  return root.endsWith("/") ? root + rel : `${root}/${rel}`;
}

/**
 * Where a list entry's bytes live. Upstream switches to tar mode when DATA.ROOT contains ".tar": the video
 * is looked up by base name in `<dirname>.tar` (a dirname already ending in ".tar" is used as is).
 */
export function videoLocation(root: string, rel: string): { file: string } | { tar: string; name: string } {
  const full = joinPath(root, rel);
  if (!root.includes(".tar")) return { file: full };
  const dir = dirname(full);
  return { tar: dir.endsWith(".tar") ? dir : `${dir}.tar`, name: basename(full) };
}

/** Reads one video's encoded bytes; `tarCache` keeps each archive's bytes and index across calls. */
export async function readVideoBytes(
  root: string,
  rel: string,
  tarCache = new Map<string, { bytes: Uint8Array; index: TarIndex }>(),
): Promise<Uint8Array> {
  const loc = videoLocation(root, rel);
  if ("file" in loc) return await Deno.readFile(loc.file);
  let t = tarCache.get(loc.tar);
  if (!t) {
    const bytes = await Deno.readFile(loc.tar);
    t = { bytes, index: readTarIndex(bytes, loc.tar) };
    tarCache.set(loc.tar, t);
  }
  const e = t.index.byBase.get(loc.name);
  if (!e) throw new Error(`${loc.tar}: no entry named ${loc.name}`);
  return t.bytes.subarray(e.offset, e.offset + e.size);
}

export interface CheckDataResult {
  /** the first `limit` missing list paths, in list order */
  missing: string[];
  missingCount: number;
  total: number;
}

async function exists(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isFile;
  } catch {
    return false;
  }
}

/** The `--check-data` pass: which listed videos cannot be found under the dataset root. */
export async function checkData(ds: Dataset, opts: { limit?: number } = {}): Promise<CheckDataResult> {
  const limit = opts.limit ?? 10;
  const missing: string[] = [];
  let missingCount = 0;
  const tars = new Map<string, Set<string> | null>();
  for (const it of ds.items) {
    const loc = videoLocation(ds.root, it.path);
    let ok: boolean;
    if ("file" in loc) {
      ok = await exists(loc.file);
    } else {
      if (!tars.has(loc.tar)) {
        let names: Set<string> | null = null;
        try {
          names = new Set(readTarIndex(await Deno.readFile(loc.tar), loc.tar).byBase.keys());
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) throw e;
        }
        tars.set(loc.tar, names);
      }
      ok = tars.get(loc.tar)?.has(loc.name) ?? false;
    }
    if (!ok) {
      missingCount++;
      if (missing.length < limit) missing.push(it.path);
    }
  }
  return { missing, missingCount, total: ds.items.length };
}

export function formatMissing(ds: Dataset, r: CheckDataResult): string {
  if (r.missingCount === 0) return `all ${r.total} videos found under ${ds.root}`;
  const more = r.missingCount - r.missing.length;
  return [
    `${r.missingCount} of ${r.total} videos are missing under ${ds.root}:`,
    ...r.missing.map((p) => `  ${p}`),
    ...(more > 0 ? [`  … and ${more} more`] : []),
  ].join("\n");
}
