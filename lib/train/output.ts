// The output folder of a training run. Its checkpoints are what the results store's rows point at, so
// a second run must not write over them: the folder names its owner in `vifi-run.json`, and a run
// starts there only if the folder holds no checkpoints, or if it continues from a checkpoint in it.
// Before the first step the folder is made, proven writable, and cleared of temporary files a killed
// writer left behind.

import { realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { removeOrphanedTemps, writeFileAtomic } from "../io/atomic-write.ts";
import { processAlive } from "../results/store.ts";

export const OWNER_FILE = "vifi-run.json";
const CHECKPOINT_RE = /^(ckpt_epoch_\d+|best|last)\.safetensors$/;

export interface OutputOwner {
  experiment: string;
  runId?: number;
  /** the results database the run id belongs to */
  db?: string;
  pid: number;
  host: string;
  startedAt: string;
  status: "running" | "done" | "failed" | "interrupted";
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The folder's owner file, or undefined when there is none (or it cannot be read). */
export async function readOwner(dir: string): Promise<OutputOwner | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/${OWNER_FILE}`)) as OutputOwner;
  } catch {
    return undefined; // none, or unreadable: the checkpoints alone still protect the folder
  }
}

async function checkpointsIn(dir: string): Promise<string[]> {
  try {
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) if (e.isFile && CHECKPOINT_RE.test(e.name)) names.push(e.name);
    return names.sort();
  } catch {
    return [];
  }
}

export function samePath(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  return real(a) === real(b);
}

function describe(o: OutputOwner | undefined): string {
  if (!o) return "an earlier run";
  const id = o.runId !== undefined ? `run ${o.runId}` : "a run";
  return `${id} (${o.experiment}, ${o.status}${o.db ? `, ${o.db}` : ""})`;
}

/** Why a new run may not write into `dir` (one line), or undefined when it may. */
export async function outputInUse(dir: string, continueFrom?: string): Promise<string | undefined> {
  const owner = await readOwner(dir);
  const live = owner && owner.status === "running" && owner.pid !== Deno.pid && owner.host === hostname() &&
    processAlive(owner.pid);
  if (live) {
    return `vifi: the output folder ${dir} is in use by ${describe(owner)}, process ${owner.pid}; ` +
      `give another --output`;
  }
  if (continueFrom && samePath(dirname(continueFrom), dir)) return undefined; // that run carried on
  const found = await checkpointsIn(dir);
  if (!found.length) return undefined;
  return `vifi: the output folder ${dir} holds the checkpoints of ${describe(owner)} (${found[0]}` +
    `${found.length > 1 ? `, … ${found.length} files` : ""}); give another --output, or carry that run on ` +
    `with --resume ${dir}/last.safetensors --continue`;
}

/**
 * Before anything is loaded: refuse a folder another run owns, make the folder, prove it writable by
 * writing the owner file, and remove the temporary files a killed run left.
 */
export async function claimOutput(
  dir: string,
  owner: Omit<OutputOwner, "pid" | "host" | "startedAt" | "status">,
  continueFrom?: string,
): Promise<void> {
  const refused = await outputInUse(dir, continueFrom);
  if (refused) throw new Error(refused);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(`vifi: cannot make the output folder ${dir}: ${why(e)}`);
  }
  await writeOwner(dir, {
    ...owner,
    pid: Deno.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    status: "running",
  });
  await removeOrphanedTemps(dir);
}

async function writeOwner(dir: string, o: OutputOwner): Promise<void> {
  try {
    await writeFileAtomic(
      `${dir}/${OWNER_FILE}`,
      new TextEncoder().encode(JSON.stringify(o, null, 2) + "\n"),
    );
  } catch (e) {
    throw new Error(`vifi: the output folder ${dir} is not writable: ${why(e).replace(/^vifi: /, "")}`);
  }
}

/**
 * The newest training state a run left in `dir`: `last.safetensors` (saved when stopped, or at the end)
 * or a validated epoch's `ckpt_epoch_N.safetensors`, whichever was written last (a run stopped in
 * epoch 1, continued, then killed without warning after validating epoch 3 left both, and epoch 3 is the
 * newer); undefined when there is none. `best` is a copy of an epoch file, never newer state.
 */
export async function newestState(dir: string): Promise<string | undefined> {
  let newest: { path: string; at: number } | undefined;
  for (const name of await checkpointsIn(dir)) {
    if (name === "best.safetensors") continue;
    const at = (await Deno.stat(`${dir}/${name}`)).mtime?.getTime() ?? 0;
    if (!newest || at > newest.at) newest = { path: `${dir}/${name}`, at };
  }
  return newest?.path;
}

/** Record the run id once the store gave one, and the final status at the end. */
export async function updateOwner(dir: string, change: Partial<OutputOwner>): Promise<void> {
  const o = await readOwner(dir);
  if (!o || o.pid !== Deno.pid) return; // not ours (or never claimed): leave it alone
  await writeOwner(dir, { ...o, ...change });
}
