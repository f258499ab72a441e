// Every kernel check in one list, for the test suite and `deno task doctor`.

import type { KernelCheck } from "./check.ts";
import { elementwiseChecks } from "./checks/elementwise.ts";
import { matmulChecks } from "./checks/matmul.ts";
import { attentionChecks } from "./checks/attention.ts";
import { embeddingHeadChecks } from "./checks/embedding_head.ts";
import { embeddingChecks } from "./checks/embedding.ts";
import { patchEmbedChecks } from "./checks/patch_embed.ts";
import { crossEntropyChecks } from "./checks/cross_entropy.ts";
import { adamwChecks } from "./checks/adamw.ts";
import { normalizationChecks } from "./checks/normalization.ts";

export const allChecks: KernelCheck[] = [
  ...elementwiseChecks,
  ...matmulChecks,
  ...attentionChecks,
  ...embeddingHeadChecks,
  ...embeddingChecks,
  ...patchEmbedChecks,
  ...crossEntropyChecks,
  ...adamwChecks,
  ...normalizationChecks,
];
