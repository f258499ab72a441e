// Reading an environment variable where the process may lack the permission to (a library imported
// with fewer Deno permissions) or where there is no Deno at all (a browser bundle).

/** The variable's value, or undefined when it is unset, unreadable without env permission, or not in Deno. */
export function readEnv(name: string): string | undefined {
  if (typeof Deno === "undefined") return undefined;
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no env permission: as if unset
  }
}
