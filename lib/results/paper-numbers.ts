// The numbers the ViFi-CLIP README publishes (ViT-B/16, percent), so a leaderboard can put ours beside
// them. Source: the upstream README as summarised in the reference docs/upstream.md §9.6 ("Published numbers").
// Zero-shot: trained on K400 with 32 frames, each dataset the mean over its 3 splits, 1×1 views.
// Base-to-novel: base/novel each the mean over seeds 1..3, HM of those means. Few-shot: 1×1 views.
// Fully supervised K400: 16 frames, 4 clips × 3 crops.

import type { ProtocolKind } from "../dsl/types.ts";

/** "vifi" = both towers fine-tuned (ModelSpec variant "both"); "prompt" = VL prompting. */
export type PaperVariant = "vifi" | "image" | "text" | "prompt";
export type PaperMetric = "top1" | "top5" | "base" | "novel" | "hm";

export interface PaperEntry {
  protocol: Exclude<ProtocolKind, "custom">;
  dataset: "k400" | "k600" | "hmdb" | "ucf" | "ssv2";
  variant: PaperVariant;
  /** few-shot K */
  shots?: number;
  metric: PaperMetric;
  value: number;
}

const ZERO_SHOT: [PaperVariant, number, number, number][] = [
  // variant, HMDB, UCF, K600
  ["image", 49.0, 72.9, 62.2],
  ["text", 48.5, 69.8, 68.5],
  ["vifi", 51.3, 76.8, 71.2],
];

const BASE_TO_NOVEL: [PaperVariant, PaperEntry["dataset"], number, number, number][] = [
  // variant, dataset, base, novel, HM
  ["vifi", "k400", 76.4, 61.1, 67.9],
  ["vifi", "hmdb", 73.8, 53.3, 61.9],
  ["vifi", "ucf", 92.9, 67.7, 78.3],
  ["vifi", "ssv2", 16.2, 12.1, 13.9],
  ["image", "k400", 72.9, 58.0, 64.6],
  ["image", "hmdb", 62.6, 47.5, 54.0],
  ["image", "ucf", 86.4, 65.3, 74.4],
  ["image", "ssv2", 9.2, 8.5, 8.8],
  ["text", "k400", 73.4, 59.7, 65.8],
  ["text", "hmdb", 70.0, 51.2, 59.1],
  ["text", "ucf", 90.9, 67.4, 77.4],
  ["text", "ssv2", 12.4, 9.5, 10.8],
  ["prompt", "hmdb", 77.1, 54.9, 64.1],
  ["prompt", "ucf", 95.9, 74.1, 83.6],
  ["prompt", "ssv2", 15.8, 11.5, 13.3],
];

const FEW_SHOT_K = [2, 4, 8, 16];
const FEW_SHOT: [PaperVariant, PaperEntry["dataset"], number[]][] = [
  // variant, dataset, top-1 at K = 2 / 4 / 8 / 16
  ["vifi", "hmdb", [57.2, 62.7, 64.5, 66.8]],
  ["vifi", "ucf", [80.7, 85.1, 90.0, 92.7]],
  ["vifi", "ssv2", [6.2, 7.4, 8.5, 12.4]],
  ["prompt", "hmdb", [63.0, 65.1, 69.6, 72.0]],
  ["prompt", "ucf", [91.0, 93.7, 95.0, 96.4]],
  ["prompt", "ssv2", [6.7, 7.9, 10.2, 13.5]],
];

const FULLY_SUPERVISED: [PaperVariant, number, number][] = [
  // variant, top-1, top-5 (K400, 4×3 views)
  ["image", 82.8, 96.2],
  ["text", 73.1, 91.2],
  ["vifi", 83.9, 96.3],
];

export const PAPER: readonly PaperEntry[] = Object.freeze([
  ...ZERO_SHOT.flatMap(([variant, hmdb, ucf, k600]): PaperEntry[] => [
    { protocol: "zero-shot", dataset: "hmdb", variant, metric: "top1", value: hmdb },
    { protocol: "zero-shot", dataset: "ucf", variant, metric: "top1", value: ucf },
    { protocol: "zero-shot", dataset: "k600", variant, metric: "top1", value: k600 },
  ]),
  ...BASE_TO_NOVEL.flatMap(([variant, dataset, base, novel, hm]): PaperEntry[] => [
    { protocol: "base-to-novel", dataset, variant, metric: "base", value: base },
    { protocol: "base-to-novel", dataset, variant, metric: "novel", value: novel },
    { protocol: "base-to-novel", dataset, variant, metric: "hm", value: hm },
  ]),
  ...FEW_SHOT.flatMap(([variant, dataset, values]) =>
    values.map((value, i): PaperEntry => ({
      protocol: "few-shot",
      dataset,
      variant,
      shots: FEW_SHOT_K[i],
      metric: "top1",
      value,
    }))
  ),
  ...FULLY_SUPERVISED.flatMap(([variant, top1, top5]): PaperEntry[] => [
    { protocol: "fully-supervised", dataset: "k400", variant, metric: "top1", value: top1 },
    { protocol: "fully-supervised", dataset: "k400", variant, metric: "top5", value: top5 },
  ]),
]);

/** The published number for one cell, or null where the paper has none. */
export function paperValue(q: {
  protocol: ProtocolKind;
  dataset?: string | null;
  variant: string;
  shots?: number | null;
  metric: PaperMetric;
}): number | null {
  const e = PAPER.find((p) =>
    p.protocol === q.protocol && p.dataset === q.dataset && p.variant === q.variant &&
    p.metric === q.metric &&
    (p.shots ?? null) === (q.shots ?? null)
  );
  return e ? e.value : null;
}
