// The op registry: every tunable op family, one row each (lib/tune/family.ts says what a row holds and
// how to add one). The tuner runs families in this order: matmul first, because the composed attention
// is made of GEMMs and should be timed on their tuned kernels.

import type { OpFamily } from "./family.ts";
import { ATTENTION_FAMILY } from "./families/attention.ts";
import { LAYERNORM_FAMILY } from "./families/layernorm.ts";
import { MATMUL_FAMILY } from "./families/matmul.ts";

// deno-lint-ignore no-explicit-any
export const FAMILIES: OpFamily<any>[] = [MATMUL_FAMILY, ATTENTION_FAMILY, LAYERNORM_FAMILY];

export function familyNamed(name: string): OpFamily<unknown> {
  const f = FAMILIES.find((x) => x.name === name);
  if (!f) throw new Error(`vifi: tune: no op family "${name}" (${FAMILIES.map((x) => x.name).join(", ")})`);
  return f;
}
