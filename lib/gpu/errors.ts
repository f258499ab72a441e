// GPU errors as exceptions. WebGPU reports a validation or out-of-memory error asynchronously and then
// skips the offending command, so a program that only looked at its outputs would print zeros as if
// they were answers. The runtime turns every such error into one of these at the next read or sync.

/** A WebGPU validation or out-of-memory error, with the op that caused it where that is known. */
export class GpuError extends Error {
  constructor(readonly op: string | undefined, readonly detail: string, readonly count = 1) {
    const where = op ? ` in ${op}` : "";
    const more = count > 1 ? ` (and ${count - 1} more)` : "";
    super(`vifi: GPU error${where}: ${oneLine(detail)}${more}`);
    this.name = "GpuError";
  }
}

/** An op asked for a storage binding larger than the adapter allows; refused before it was recorded. */
export class BindingLimitError extends Error {
  constructor(op: string, binding: number, bytes: number, limit: number) {
    super(
      `vifi: ${op}: binding @${binding} needs ${bytes} bytes but this adapter's ` +
        `maxStorageBufferBindingSize is ${limit}; split the batch into smaller pieces`,
    );
    this.name = "BindingLimitError";
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}
