// Every kernel check in one list, for the test suite and `deno task doctor`.

import type { KernelCheck } from "./check.ts";
import { elementwiseChecks } from "./checks/elementwise.ts";

export const allChecks: KernelCheck[] = [
  ...elementwiseChecks,
];
