/**
 * vifi: ViFi-CLIP on hand-written WGSL kernels over WebGPU.
 *
 * This module is the public surface. It works from disk or imported over HTTP(S): kernels are
 * fetched relative to this file.
 *
 * ```ts
 * import { getRuntime, matmul, Tensor } from "./mod.ts";
 * const rt = await getRuntime();
 * const a = Tensor.from(rt, [1, 2, 3, 4], [2, 2]);
 * const y = await matmul(a, a);
 * console.log(await y.read()); // [7, 10, 15, 22]
 * ```
 * @module
 */

export { type Gpu, type GpuFeatures, type GpuLimits, NoGpuError, requestGpu } from "./lib/gpu/device.ts";
export { type Binding, getRuntime, Runtime } from "./lib/gpu/runtime.ts";
export { kernelSource, PipelineCache, preprocess, type Spec } from "./lib/gpu/kernels.ts";
export { BufferPool } from "./lib/gpu/buffer-pool.ts";
export { type DType, type Shape, Tensor } from "./lib/tensor/tensor.ts";

export { add, binary, cast, mul, scale, sub } from "./lib/tensor/ops/elementwise.ts";
export {
  type Activation,
  gemm,
  matmul,
  matmulBackward,
  type MatmulOptions,
} from "./lib/tensor/ops/matmul.ts";
export {
  attention,
  attentionBackward,
  type AttentionOptions,
  attentionPacked,
  attentionPackedBackward,
} from "./lib/tensor/ops/attention.ts";
export { quickGelu, quickGeluBackward } from "./lib/tensor/ops/quickgelu.ts";
export { layerNorm, layerNormBackward } from "./lib/tensor/ops/layernorm.ts";
export { softmax, softmaxBackward, type SoftmaxOptions } from "./lib/tensor/ops/softmax.ts";
export { expandAxis, mean, meanBackward, sum, sumBackward } from "./lib/tensor/ops/reduce.ts";
export { embedding, embeddingBackward } from "./lib/tensor/ops/embedding.ts";
export { col2im, im2col } from "./lib/tensor/ops/patch_embed.ts";
export { crossEntropy, crossEntropyBackward } from "./lib/tensor/ops/cross_entropy.ts";
export { adamw, type AdamWOptions, nonFinite } from "./lib/tensor/ops/adamw.ts";

export { allChecks } from "./lib/selftest/registry.ts";
export type { KernelCheck } from "./lib/selftest/check.ts";

export { addInto, clone } from "./lib/tensor/ops/elementwise.ts";
export { l2Normalize, l2NormalizeBackward } from "./lib/tensor/ops/l2norm.ts";
export { logitScale, logitScaleBackward } from "./lib/tensor/ops/logit_scale.ts";
export { Param, Tape, Var } from "./lib/autograd/tape.ts";
export * as fn from "./lib/autograd/functions.ts";
export {
  CLIP_CONFIGS,
  type ClipConfig,
  clipConfig,
  clipShapes,
  inferClipConfig,
  initClipWeights,
  initPromptWeights,
  type PromptConfig,
  promptShapes,
  type Weights,
} from "./lib/models/config.ts";
export { ClipModel, type Precision } from "./lib/models/clip.ts";
export { trainsParam, type Variant, ViFiClip, type VifiOutput } from "./lib/models/vifi.ts";
export { exportImageTower, exportTextTower, exportVifiLogits } from "./lib/models/weights/onnx-export.ts";
export { encodeOnnx, type OnnxGraph } from "./lib/io/onnx.ts";
export { Plan } from "./lib/gpu/plan.ts";
export { AdamW, type AdamWConfig } from "./lib/train/optimizer.ts";
export { LossScaler } from "./lib/train/loss-scale.ts";
export { CompiledStep, eagerStep, type StepBatch, type StepReport } from "./lib/train/step.ts";
export { contrastiveLoss, contrastiveStep } from "./lib/train/contrastive.ts";
export { loadWeights } from "./lib/models/weights/load.ts";
export { readSafetensors, writeSafetensors } from "./lib/io/safetensors.ts";
export { readTorch, readTorchAsync, writeTorchStateDict } from "./lib/io/torch.ts";
export { detectNaming, fromModelNames, mapWeights } from "./lib/models/weights/keymap.ts";
export { exportPth } from "./lib/models/weights/export-pth.ts";
export { readCheckpoint, resumeInto, saveCheckpoint } from "./lib/train/checkpoint.ts";
export { ByteTokenizer, ClipTokenizer, loadTokenizer } from "./lib/text/tokenizer.ts";
export { readWordList, WordTokenizer } from "./lib/text/words.ts";
export { parseLabelCsv, readLabelCsv } from "./lib/data/labels.ts";
export { checkData, loadDataset, parseList, readList } from "./lib/data/lists.ts";
export { sampleMultiClip, sampleTestIndices, sampleTrainIndices } from "./lib/video/sampling.ts";
export { testTransform, trainTransform } from "./lib/video/transforms.ts";
// Video decoding, the loader and the synthetic generator pull in npm packages (mp4box, ffmpeg.wasm,
// h264-mp4-encoder): import them from lib/video/decode.ts, lib/data/loader.ts, lib/data/synthetic.ts (and
// the pretraining on its caption pairs from lib/train/pretrain.ts).
// The experiment DSL (YAML configs and `.exp.ts` loading pull in npm:yaml: import lib/dsl/load.ts).
export { defineExperiment, sweep } from "./lib/dsl/define.ts";
export { describeResolved, ExperimentError, resolveExperiment } from "./lib/dsl/resolve.ts";
export type {
  EvalSpec,
  Experiment,
  ProtocolTag,
  ResolvedEval,
  ResolvedExperiment,
  ResolvedTrain,
  TrainSpec,
} from "./lib/dsl/types.ts";
