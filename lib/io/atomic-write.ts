// Files that must never be seen half-written (checkpoints, exported weights): write a temporary file
// beside the target, then rename it over the target, which POSIX makes atomic.

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`vifi: cannot write ${path}: ${e instanceof Error ? e.message : e}`);
  }
}
