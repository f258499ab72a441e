// The wordings of the synthetic world's captions (lib/data/captions.ts draws them) and the word list they
// and the class prompts make: the vocabulary of the "words" tokenizer that the demo's model reads
// (lib/text/words.ts). The synthetic generator writes that list beside its label files.

import { wordsOf } from "../text/words.ts";

/**
 * Caption templates by the attributes they name (c colour, s shape, m motion). The first of "csm" is the
 * evaluation's prompt and is drawn for half of the full captions; the rest vary the wording.
 */
export const CAPTION_TEMPLATES: Readonly<Record<string, readonly string[]>> = {
  csm: [
    "a photo of a {c} {s} moving {m}.",
    "a {c} {s} moving {m}",
    "a {c} {s} going {m}",
    "the {c} {s} moves {m}",
    "{c} {s}, moving {m}",
    "a {s} that is {c}, moving {m}",
  ],
  cs: ["a photo of a {c} {s}.", "a {c} {s}", "the {s} is {c}", "{c} {s}"],
  cm: [
    "a photo of something {c} moving {m}.",
    "a {c} shape moving {m}",
    "something {c} going {m}",
    "a {c} thing moves {m}",
  ],
  sm: ["a photo of a {s} moving {m}.", "a {s} moving {m}", "a {s} going {m}", "the {s} moves {m}"],
  c: ["a photo of something {c}.", "something {c}", "a {c} shape", "{c}"],
  s: ["a photo of a {s}.", "a {s}", "the {s}", "{s}"],
  m: ["a photo of something moving {m}.", "something moving {m}", "moving {m}", "an object going {m}"],
};

/**
 * Every word a caption, a class name or the evaluation prompt of the synthetic world can hold, sorted:
 * `words.txt` of a synthetic dataset.
 */
export function syntheticWords(classNames: readonly string[]): string[] {
  return wordsOf([...Object.values(CAPTION_TEMPLATES).flat(), ...classNames, "a photo of a {name}."]);
}
