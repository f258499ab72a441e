// The little path arithmetic the library needs on code paths that also load in a page, where `node:path`
// does not exist (a browser bundle cannot resolve it). POSIX separators, as on every machine vifi trains on;
// a Windows drive prefix ("C:\" or "C:/") counts as absolute so such a path is never glued onto a folder.

/** True for "/x", "C:\x" and "C:/x". */
export function isAbsolutePath(p: string): boolean {
  return p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p);
}

/** `p` made absolute against the absolute folder `base`, with "." and ".." folded ("/a/b/../c" → "/a/c"). */
export function resolveAgainst(base: string, p: string): string {
  if (!isAbsolutePath(base)) {
    // a relative base is taken from the process's folder, where there is one (Deno; not a page)
    const cwd = (globalThis as { Deno?: { cwd(): string } }).Deno?.cwd();
    base = cwd ? `${cwd}/${base}` : `/${base}`;
  }
  const full = isAbsolutePath(p) ? p : `${base.replace(/\/+$/, "")}/${p}`;
  const drive = /^[A-Za-z]:/.exec(full)?.[0] ?? "";
  const parts: string[] = [];
  for (const part of full.slice(drive.length).split(/[\\/]+/)) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `${drive}/${parts.join("/")}`;
}

/** The folder holding `p` ("." for a bare name, "/" for a file at the root). */
export function parentDir(p: string): string {
  const i = p.replace(/\/+$/, "").lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : p.slice(0, i);
}
