// `weights inspect`: what a weight file says about itself and what loading it would take, from its
// headers alone, however incomplete the file.

import type { PromptConfig } from "../config.ts";
import { type MappingReport, mapWeights, type Naming } from "./keymap.ts";
import { describePartial, type PartialClipConfig } from "./partial-mapping.ts";
import {
  countDtypes,
  elements,
  type LoadWeightsOptions,
  mapOptions,
  type WeightFormat,
  withTensorFiles,
} from "./load.ts";
import { oneLine } from "../../io/messages.ts";

/** `weights inspect`'s answer: everything a file says, and what loading it would take. */
export interface WeightsDescription {
  format: WeightFormat;
  /** null when the names fit none of OpenAI, ViFi-CLIP or Hugging Face */
  naming: Naming | null;
  /** null where the file does not say; `unknown` says why */
  arch: PartialClipConfig & { vision: { tokens: number | null } };
  unknown: string[];
  /** tensors in the file (its state dict), and how many map onto the model */
  tensors: number;
  mapped: number;
  /** values in the mapped tensors */
  params: number;
  dtypes: Record<string, number>;
  prompts: { config: PromptConfig | null; names: string[] } | null;
  /** `mismatched` is only checked when the architecture is complete (`shapesChecked`) */
  report: Omit<MappingReport, "naming"> & { naming: Naming | null };
  shapesChecked: boolean;
  /** what else loading needs, one line each ("token embedding: supply a CLIP file with --clip-weights") */
  needs: string[];
  /** whether loadWeights accepts the file, strict and non-strict; `error` is its one-line refusal */
  load: { strict: { ok: boolean; error?: string }; nonStrict: { ok: boolean; error?: string } };
  meta?: unknown;
}

const gcd = (a: number, b: number): number => b ? gcd(b, a % b) : a;

/**
 * Describe a weight file from its headers alone, however incomplete: a ViFi-CLIP training
 * checkpoint without its token embedding, a tiny model whose width no head width divides, a bare
 * image tower. Only an unreadable file throws; whether loading would refuse is part of the answer.
 */
export async function describeWeights(
  path: string | URL,
  opts: LoadWeightsOptions = {},
): Promise<WeightsDescription> {
  const fileName = String(path);
  return await withTensorFiles(path, opts, true, (file, supplement) => {
    const base = mapOptions(file, supplement, opts, fileName);
    const attempt = (strict: boolean, headWidth = base.headWidth) => {
      try {
        return { mapped: mapWeights(file.tensors, { ...base, strict, headWidth }) };
      } catch (e) {
        return { error: oneLine(e instanceof Error ? e.message : String(e)) };
      }
    };
    const strict = attempt(true), loose = attempt(false);
    const partial = describePartial(file.tensors, base);
    const { arch, unknown } = partial;
    // heads change no shape: when they are all that is unknown, a head width dividing both widths
    // checks every shape exactly; the heads stay unknown in the answer
    let full = loose.mapped;
    const onlyHeads = unknown.every((u) => /^(vision|text)\.heads:|^text\.vocab:/.test(u));
    if (!full && onlyHeads && arch.vision.width && arch.text.width) {
      full = attempt(false, gcd(arch.vision.width, arch.text.width)).mapped;
    }
    let params = 0, mapped = 0;
    let report: WeightsDescription["report"] = partial.report;
    let prompts: WeightsDescription["prompts"] = partial.report.prompts.length
      ? { config: null, names: partial.report.prompts }
      : null;
    if (full) {
      report = full.report;
      for (const t of [...full.weights.values(), ...full.prompts?.weights.values() ?? []]) {
        params += elements(t.shape);
        mapped++;
      }
      if (full.prompts) prompts = { config: full.prompts.config, names: full.report.prompts };
    } else {
      for (const t of partial.mapped.values()) params += elements(t.shape);
      mapped = partial.mapped.size;
    }
    const v = arch.vision;
    const tokens = v.resolution !== null && v.patch ? (v.resolution / v.patch) ** 2 + 1 : null;
    return {
      format: file.format,
      naming: partial.naming,
      arch: { ...arch, vision: { ...v, tokens } },
      unknown,
      tensors: file.tensors.size,
      mapped,
      params,
      dtypes: countDtypes(file),
      prompts,
      report,
      shapesChecked: !!full,
      needs: loadNeeds(partial.naming, unknown, report, !!full),
      load: {
        strict: strict.mapped ? { ok: true } : { ok: false, error: strict.error },
        nonStrict: loose.mapped ? { ok: true } : { ok: false, error: loose.error },
      },
      meta: file.meta,
    };
  });
}

/** What else a load needs, in the words of the remedy. Empty when a strict load succeeds. */
function loadNeeds(
  naming: Naming | null,
  unknown: string[],
  report: WeightsDescription["report"],
  shapesChecked: boolean,
): string[] {
  const needs: string[] = [];
  if (!naming) {
    needs.push(
      "a naming: OpenAI (visual.*), ViFi-CLIP (image_encoder.*) or Hugging Face (vision_model.*) names",
    );
  }
  if (report.missing.includes("token_embedding.weight")) {
    needs.push("token embedding: supply a CLIP file with --clip-weights");
  }
  const heads = unknown.find((u) => /^(vision|text)\.heads: width/.test(u));
  if (heads) needs.push(`head width: ${heads.replace(/^[a-z.]+: /, "")}`);
  const others = unknown.filter((u) => !/^(vision|text)\.heads:|^text\.vocab:/.test(u));
  if (others.length) needs.push(`architecture: ${others.join("; ")}`);
  const rest = report.missing.filter((n) => n !== "token_embedding.weight");
  if (rest.length) {
    needs.push(
      `${rest.length} more missing tensor${
        rest.length > 1 ? "s" : ""
      } (a non-strict load keeps initial values)`,
    );
  }
  if (report.unexpected.length) {
    needs.push(`${report.unexpected.length} unmapped tensor(s) dropped: a strict load refuses them`);
  }
  if (report.mismatched.length) {
    needs.push(
      `${report.mismatched.length} tensor(s) of the wrong shape replaced: a strict load refuses them`,
    );
  }
  if (!shapesChecked && naming) needs.push("shapes unchecked until the architecture is complete");
  return needs;
}
