// Files that must never be seen half-written (checkpoints, exported weights): write a temporary file
// beside the target, fsync it, rename it over the target (atomic on POSIX), then fsync the folder so
// the rename itself survives a power cut. A reader sees the old file or the new one, never a part.

import { parentDir } from "./paths.ts";

/** Temporary files end `.vifi-tmp-XXXXXXXX`, so a later start can find the ones a killed process left. */
const TMP_MARK = ".vifi-tmp-";
const TMP_RE = /\.vifi-tmp-[0-9a-f]{8}$/;

function tempPath(path: string): string {
  return `${path}${TMP_MARK}${crypto.randomUUID().slice(0, 8)}`;
}

function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** fsync a folder, so a rename inside it is on disk; where folders cannot be opened (Windows), skip. */
async function syncDir(dir: string): Promise<void> {
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(dir, { read: true });
  } catch {
    return;
  }
  try {
    await f.sync();
  } catch {
    // some file systems refuse fsync on a folder; the rename is still atomic
  } finally {
    f.close();
  }
}

/** Make `tmp` complete and durable, then put it at `path`; on any failure remove it and say which file. */
async function commit(tmp: string, path: string, fill: () => Promise<void>): Promise<void> {
  try {
    await fill();
    const f = await Deno.open(tmp, { read: true, write: true });
    try {
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`vifi: cannot write ${path}: ${why(e)}`);
  }
  await syncDir(parentDir(path));
}

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempPath(path);
  await commit(tmp, path, () => Deno.writeFile(tmp, bytes));
}

/** Copy `from` to `path` the same way: `path` holds its old contents until the copy is complete. */
export async function copyFileAtomic(from: string, path: string): Promise<void> {
  const tmp = tempPath(path);
  await commit(tmp, path, () => Deno.copyFile(from, tmp));
}

/** Remove the temporary files a killed writer left in `dir`; returns their names. */
export async function removeOrphanedTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return removed; // no folder yet: nothing left behind
  }
  for (const e of entries) {
    if (!e.isFile || !TMP_RE.test(e.name)) continue;
    await Deno.remove(`${dir}/${e.name}`).catch(() => {});
    removed.push(e.name);
  }
  return removed;
}
