// A check that an op refuses bad input with a message naming what was wrong.

import { Tensor } from "../../tensor/tensor.ts";

/** 0 when `fn` throws an error whose message contains every one of `needles`, else 1. */
export async function rejects(fn: () => Promise<unknown>, ...needles: string[]): Promise<number> {
  try {
    const t = await fn();
    if (t instanceof Tensor) t.dispose();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return needles.every((s) => msg.includes(s)) ? 0 : 1;
  }
  return 1;
}
