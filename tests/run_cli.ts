// Runs one of lib/cli/*.ts as its own process: its exit code and output are the contract under test.

export async function runCli(name: string, ...args: string[]) {
  const cli = new URL(`../lib/cli/${name}.ts`, import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}
