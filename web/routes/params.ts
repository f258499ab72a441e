// Reading the dashboard's addresses: run and eval ids, and the runs page's integer query parameters.

/**
 * A run or eval id exactly as the pages write it: decimal digits without a leading zero. Number() alone
 * would also take "0x3", "3.0", "03" and " 3", so one run would answer at many addresses.
 */
export function strictId(v: string | undefined): number | null {
  return v !== undefined && /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : null;
}

/** An integer query parameter clamped to [lo, hi]; `def` when it is missing or not an integer. */
export function intParam(v: string | undefined, def: number, lo: number, hi: number): number {
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) ? Math.min(hi, Math.max(lo, n)) : def;
}

/** The ids of a comma-separated list ("3,5,8"), those that are not strict ids dropped. */
export function idList(v: string | undefined): number[] {
  return (v ?? "").split(",").map(strictId).filter((n) => n !== null);
}
