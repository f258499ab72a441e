// The library's page API as one script: a page that loads this bundle (lib/cli/browser-page.ts serves it at
// /lib/browser/entry.js) finds it as `globalThis.vifi`. Pages and tests drive it from there; nothing here
// runs until they call it.

import { pageWebGpu, predictInPage, releasePageModel } from "./predict.ts";
import { prepareVideoInPage, useFfmpegWasm } from "./video.ts";
import { fetchWeights, forgetWeights } from "./weights.ts";
import { clipTokenizerFrom } from "./tokens.ts";

export const vifi = {
  pageWebGpu,
  predictInPage,
  releasePageModel,
  prepareVideoInPage,
  useFfmpegWasm,
  fetchWeights,
  forgetWeights,
  clipTokenizerFrom,
};

(globalThis as { vifi?: typeof vifi }).vifi = vifi;
