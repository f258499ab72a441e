// Runs one of lib/cli/*.ts as its own process: its exit code and output are the contract under test.

export function runCli(name: string, ...args: string[]) {
  return runCliEnv({}, name, ...args);
}

/**
 * runCli with `env` added to the child's environment. Tests pass settings this way instead of
 * Deno.env.set: test files run two at a time in one process (`--parallel`), so a variable set in one
 * file would reach the other file's children too.
 */
export async function runCliEnv(env: Record<string, string>, name: string, ...args: string[]) {
  const cli = new URL(`../lib/cli/${name}.ts`, import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}
