// The demo's result as the paper's base-to-novel table: one row per model (zero-shot CLIP, ViFi-CLIP
// fine-tuned), base and novel top-1 and their harmonic mean, and below it what each row gets right per
// factor (colour, shape, direction): what transfers to the novel combinations.

import type { FactorAccuracy } from "../data/factors.ts";

export interface DemoRow {
  label: string;
  base: number;
  novel: number;
  factors: { base: FactorAccuracy; novel: FactorAccuracy };
}

/** The harmonic mean of base and novel top-1 (0 when both are 0), as the paper reports it. */
export function harmonicMean(base: number, novel: number): number {
  return base + novel > 0 ? (2 * base * novel) / (base + novel) : 0;
}

const pct = (x: number) => x.toFixed(1).padStart(6);
const f0 = (f: FactorAccuracy) =>
  `${f.colour.toFixed(0)} / ${f.shape.toFixed(0)} / ${f.motion.toFixed(0)} %`.padEnd(16);

export function formatDemoTable(rows: DemoRow[], chance: number): string {
  const width = Math.max(...rows.map((r) => r.label.length), 5);
  const lines = [
    `${"".padEnd(width)}   base  novel     HM   (top-1 %, chance ${chance.toFixed(1)} %)`,
    ...rows.map((r) =>
      `${r.label.padEnd(width)} ${pct(r.base)} ${pct(r.novel)} ${pct(harmonicMean(r.base, r.novel))}`
    ),
    "",
    `right per factor (colour / shape / direction):`,
    `${"".padEnd(width)}   base              novel`,
    ...rows.map((r) => `${r.label.padEnd(width)}   ${f0(r.factors.base)}  ${f0(r.factors.novel)}`.trimEnd()),
  ];
  return lines.join("\n");
}
