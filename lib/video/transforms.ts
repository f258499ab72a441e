// Spatial transforms of docs/upstream.md §7.3 on RGB uint8 frames, written to reproduce the reference's integer
// arithmetic rather than an idealised version of it, so tensors fed to the model match upstream pixels.
// This module is the one importers use; the work lives in files named for what they hold:
// - frame.ts: the HWC RGB Frame, crop and flip.
// - resize.ts: cv::resize INTER_LINEAR for CV_8U (verified bit for bit against cv2 4.6.0) and mmcv's
//   short-side rescale_size.
// - color-jitter.ts: ColorJitter's brightness / contrast / saturation / hue and the grayscale luma as
//   Pillow computes them (verified bit for bit against Pillow 9.4.0).
// - normalize.ts: mmcv imnormalize into the (T, 3, H, W) float32 tensor, MEAN and STD.
// - train-transform.ts: MultiScaleCrop's candidates and the training pipeline with its random draws.
// - test-transform.ts: ThreeCrop's offsets and the test pipeline (centre crop or three crops).
// The pipelines rearrange the op-by-op work without changing a bit; tests/video/transforms_test.ts compares
// each pipeline with the chain of the exported ops and checks the fixtures from make_transform_fixtures.py.

export {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  blendValue,
  colorJitter,
  drawJitter,
  grayscale,
  type JitterParams,
  luma,
} from "./color-jitter.ts";
export { crop, flipHorizontal, type Frame } from "./frame.ts";
export { MEAN, normalizeInto, STD, type TransformResult } from "./normalize.ts";
export { resizeBilinear, resizeBilinearWindow, resizeShortSide, shortSideSize } from "./resize.ts";
export { testTransform, threeCropOffsets } from "./test-transform.ts";
export {
  drawTrainDecisions,
  MSC_SCALES,
  multiScaleCandidates,
  multiScaleOffsets,
  type TrainDecisions,
  type TrainOptions,
  trainTransform,
} from "./train-transform.ts";
