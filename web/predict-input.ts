// The predict form's input: the limits it is held to, its fields as the page echoes them back, and their
// checks, which turn a submitted form into what a prediction needs or an InputError (a 400 saying what
// is wrong) with the command line's rules.

import { LabelListError, parseLabelList } from "../lib/data/labels.ts";

/** The largest video the form accepts. */
export const MAX_UPLOAD_BYTES = 200_000_000;
/** The largest prompts file the form accepts (ViT-L/14's deepest prompts are a few MB). */
export const MAX_PROMPTS_BYTES = 64_000_000;
/** The form lists this many of the newest checkpoints; an older one can still be typed in. */
export const MAX_CHOICES = 200;

export interface FormValues {
  checkpoint?: string;
  checkpointPath?: string;
  labels?: string;
  frames?: string;
  clips?: string;
  crops?: string;
  template?: string;
}

/** The form is at fault: 400, with the message on the page. */
export class InputError extends Error {}

/** A submitted form, checked: the upload, the weights asked for (not yet allowed), and the sampling. */
export interface PredictInput {
  file: File;
  labels: string[];
  frames: number;
  clips: number;
  crops: number;
  template: string | undefined;
  /** the typed weights path, else the chosen checkpoint */
  asked: string;
  /** learned prompts for the weights (a prompts file from the page's prompt tuning), when uploaded */
  prompts?: File;
}

function intField(v: string | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined || v.trim() === "") return def;
  const x = Number(v);
  if (!/^\s*[0-9]+\s*$/.test(v) || !Number.isInteger(x) || x < min || x > max) {
    throw new InputError(`${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return x;
}

function text(v: FormDataEntryValue | null): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** The form's class names with the command line's rules: CSV quoting, no empty or repeated names. */
function classNames(text: string): string[] {
  try {
    return parseLabelList(text, "class names");
  } catch (e) {
    if (e instanceof LabelListError) throw new InputError(e.message);
    throw e;
  }
}

/** The request's multipart form; anything else is the form's fault. */
export async function readForm(req: Request): Promise<FormData> {
  try {
    return await req.formData();
  } catch {
    throw new InputError("expected a multipart/form-data form with a video and class names");
  }
}

/** The form's text fields as given, for the page to show again. */
export function formValues(form: FormData): FormValues {
  return {
    checkpoint: text(form.get("checkpoint")),
    checkpointPath: text(form.get("checkpointPath")),
    labels: text(form.get("labels")),
    frames: text(form.get("frames")),
    clips: text(form.get("clips")),
    crops: text(form.get("crops")),
    template: text(form.get("template")),
  };
}

/** Checks the form field by field, in the order the page lists them; the first problem is thrown. */
export function checkInput(form: FormData, values: FormValues, limit: number): PredictInput {
  const file = form.get("video");
  if (!(file instanceof File) || file.size === 0) throw new InputError("no video uploaded");
  if (file.size > limit) {
    throw new InputError(
      `the video is ${(file.size / 1e6).toFixed(1)} MB, over the ${Math.round(limit / 1e6)} MB limit`,
    );
  }
  const upload = form.get("prompts");
  const prompts = upload instanceof File && upload.size > 0 ? upload : undefined;
  if (prompts && prompts.size > MAX_PROMPTS_BYTES) {
    throw new InputError(`the prompts file is over the ${Math.round(MAX_PROMPTS_BYTES / 1e6)} MB limit`);
  }
  // a prompts file carries the class names it was trained for: the field may stay empty
  if (!values.labels?.trim() && !prompts) throw new InputError("no class names given");
  const labels = values.labels?.trim() ? classNames(values.labels) : [];
  const frames = intField(values.frames, "frames", 8, 1, 64);
  const clips = intField(values.clips, "clips", 1, 1, 10);
  const crops = intField(values.crops, "crops", 1, 1, 3);
  if (crops !== 1 && crops !== 3) throw new InputError(`crops must be 1 or 3, got ${crops}`);
  const template = values.template?.trim() ? values.template : undefined;
  if (template !== undefined && !template.includes("{name}")) {
    throw new InputError(`the prompt template "${template}" has no {name} for the class name`);
  }
  const typed = values.checkpointPath?.trim() ?? "";
  const asked = typed !== "" ? typed : (values.checkpoint ?? "");
  if (asked === "") throw new InputError("choose a checkpoint or give a weights file path");
  return { file, labels, frames, clips, crops, template, asked, prompts };
}
