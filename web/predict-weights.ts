// Which weights the predict form may open: a finished run's checkpoint exactly as the results store
// records it, or a file in the --weights-dir folder, nothing else. The form must not become a way to read
// the server's files, so a path is refused before anything at it is opened.

import { isAbsolute, join, resolve, sep } from "node:path";
import type { ResultsStore } from "../lib/results/store.ts";
import { InputError, MAX_CHOICES } from "./predict-input.ts";

/** A weights path the form may not open: 403, and nothing at that path is touched. */
export class ForbiddenError extends Error {}

function inside(root: string, path: string): boolean {
  return path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The file the form's weights field may open: a checkpoint of a finished run exactly as the store
 * records it, or a regular file inside `weightsDir` (named relative to it or by a path inside it) whose
 * real path, symbolic links followed, is still inside. Anything else is refused before it is opened.
 */
export async function allowedWeights(
  store: ResultsStore,
  weightsDir: string | undefined,
  asked: string,
): Promise<string> {
  if (store.doneCheckpoints({ path: asked, limit: 1 }).length) return asked;
  const refuse = () =>
    new ForbiddenError(
      `checkpoint "${asked}" is not one of the results store's checkpoints (of finished runs)` +
        (weightsDir === undefined
          ? "; to offer other files, start the dashboard with --weights-dir DIR"
          : ` nor a file in the weights folder ${weightsDir}`),
    );
  if (weightsDir === undefined || asked.includes("\0")) throw refuse();
  const given = resolve(weightsDir);
  let root: string;
  try {
    root = await Deno.realPath(given);
  } catch (e) {
    throw new Error(`the weights folder ${weightsDir} cannot be read: ${(e as Error).message}`);
  }
  const lexical = isAbsolute(asked) ? resolve(asked) : resolve(join(root, asked));
  // first by name alone (no file system access for ../ or a path elsewhere), then by real path
  if (!inside(root, lexical) && !inside(given, lexical)) throw refuse();
  let real: string;
  try {
    real = await Deno.realPath(lexical);
  } catch {
    throw new InputError(`there is no file "${asked}" in the weights folder ${weightsDir}`);
  }
  if (!inside(root, real)) throw refuse();
  if (!(await Deno.stat(real)).isFile) {
    throw new InputError(`"${asked}" in the weights folder ${weightsDir} is not a file`);
  }
  return real;
}

/** The weights folder's own files (not its subfolders'), for the form's list; at most MAX_CHOICES. */
export async function folderFiles(dir: string | undefined): Promise<string[]> {
  if (dir === undefined) return [];
  const out: string[] = [];
  try {
    const root = await Deno.realPath(dir);
    for await (const e of Deno.readDir(root)) {
      if (e.isFile && !e.name.startsWith(".")) out.push(join(root, e.name));
      if (out.length >= MAX_CHOICES) break;
    }
  } catch { /* an unreadable folder lists nothing; a prediction from it says why */ }
  return out.sort();
}
