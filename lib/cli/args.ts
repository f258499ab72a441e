// Command-line values shared by every CLI: usage errors and strict number parsing. `Number()` alone takes
// "0x8", "1e1", " 8", "8.0" and "+8" for 8 (or 10), so a typo or a pasted value would run silently with a
// number the user never wrote; only plain decimal digits are integers here.

/** A mistake in the command line: the CLI prints it with its usage text and exits 2. */
export class UsageError extends Error {}

const DECIMAL = /^[0-9]+$/;

/** `--name v` as a decimal integer ≥ min (`def` when absent); anything else is a UsageError. */
export function intArg(v: string | undefined, name: string, def: number, min: number): number {
  if (v === undefined) return def;
  const x = Number(v);
  if (!DECIMAL.test(v) || !Number.isSafeInteger(x) || x < min) {
    throw new UsageError(`--${name} must be a decimal integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  return x;
}

const FLOAT = /^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$|^\.[0-9]+([eE][-+]?[0-9]+)?$/;

/** `--name v` as a positive decimal number (1e-4 and 0.5 allowed, hex and padding not). */
export function positiveArg(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const x = Number(v);
  if (!FLOAT.test(v) || !(x > 0) || !Number.isFinite(x)) {
    throw new UsageError(`--${name} must be a positive decimal number, got ${JSON.stringify(v)}`);
  }
  return x;
}

/** Usage errors exit 2 with the usage text; anything else (a file, a GPU error) exits 1 with one line. */
export function reportError(e: unknown, usage: string): number {
  if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    console.error(`error: ${(e as Error).message}\n${usage}`);
    return 2;
  }
  // one line whatever the source (a GpuError, a decoder's log, a parser's message): no stack trace
  const msg = (e instanceof Error ? e.message : String(e)).replace(/^vifi: /, "").replace(/\s*\n\s*/g, " ");
  console.error(`error: ${msg}`);
  return 1;
}
