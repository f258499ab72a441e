// The verdict both training-parity tests give: vifi's loss curve and final parameters against the same
// loop run by PyTorch, within TRAINING_TOL relative, with every parameter moved well past that.

import { type RawTensors, relErr } from "./torch_env.ts";

export const TRAINING_TOL = 1e-4;

/**
 * The key bias (the middle third of in_proj_bias) adds the same amount to every score of a softmax row,
 * so its true gradient is 0: both sides hold only rounding noise there, which AdamW's m/√v turns into
 * full-size steps of arbitrary sign. Those elements are left out of the parameter comparison.
 */
function comparable(name: string, data: Float32Array): Float32Array {
  if (!name.endsWith("attn.in_proj_bias")) return data;
  const w = data.length / 3;
  return Float32Array.of(...data.subarray(0, w), ...data.subarray(2 * w));
}

export interface TrainingOutcome {
  /** per-step losses vifi recorded */
  losses: ArrayLike<number>;
  /** the trained parameters' names */
  names: Iterable<string>;
  initial: (name: string) => Float32Array;
  final: (name: string) => Float32Array;
}

/** Print the figures and throw unless vifi's run matches torch's (`want`: its losses and parameters). */
export function assertTrainingParity(what: string, vifi: TrainingOutcome, want: RawTensors): void {
  const wantLosses = want.get("losses")!.data;
  if (vifi.losses.length !== wantLosses.length) {
    throw new Error(`vifi recorded ${vifi.losses.length} step losses, torch took ${wantLosses.length} steps`);
  }
  const lossErr = relErr(vifi.losses, wantLosses);
  let worst = ["", 0] as [string, number], moved = Infinity;
  for (const name of vifi.names) {
    const w = comparable(name, want.get(name)!.data as Float32Array);
    const e = relErr(comparable(name, vifi.final(name)), w);
    if (e > worst[1]) worst = [name, e];
    moved = Math.min(moved, relErr(comparable(name, vifi.initial(name)), w));
  }
  const token = "token_embedding.weight";
  const frozen = relErr(vifi.final(token), want.get(token)!.data);
  const first = vifi.losses[0], last = vifi.losses[vifi.losses.length - 1];
  console.log(
    `${what}: loss curve rel err ${lossErr.toExponential(2)} (${first.toFixed(4)} → ${last.toFixed(4)}), ` +
      `final parameters max ${worst[1].toExponential(2)} (${worst[0]}); least-moved parameter changed by ` +
      moved.toExponential(2),
  );
  if (!(lossErr < TRAINING_TOL)) throw new Error(`loss curve: relative error ${lossErr} against torch`);
  if (!(worst[1] < TRAINING_TOL)) {
    throw new Error(`${worst[0]}: relative error ${worst[1]} against torch after training`);
  }
  if (frozen !== 0) throw new Error(`${token} changed (${frozen}); it never trains`);
  // Parity only means something if training moved every parameter well past the tolerance.
  if (!(moved > 10 * TRAINING_TOL)) throw new Error(`a parameter moved only ${moved} in 20 updates`);
}
