// What the page knows and has done, in one object the page's parts share; the page puts it on
// globalThis.vifiApp, so a test (or a curious visitor's console) can read the numbers behind what is shown.

import type { PageWebGpu } from "../predict.ts";
import type { SiteManifest } from "./manifest.ts";

export interface ClassifyState {
  state: "idle" | "running" | "done" | "error";
  error?: string;
  /** the last answer: top-k, every class's probability in the order typed, where the weights came from */
  predictions?: { label: string; prob: number }[];
  classes?: string[];
  probs?: number[];
  weightsFrom?: string;
  decoder?: string;
  ms?: Record<string, number>;
  adapter?: string;
}

export interface TeachState {
  state: "idle" | "preparing" | "training" | "trained" | "error";
  error?: string;
  classes?: string[];
  /** every step's loss so far */
  losses: number[];
  stopped?: boolean;
  msPerStep?: number;
  /** the last video classified with the learned prompts */
  predictions?: { label: string; prob: number }[];
  probs?: number[];
}

export interface AppState {
  manifest?: SiteManifest;
  webgpu?: PageWebGpu;
  /** set once the page is wired (or has said why it cannot be) */
  ready: boolean;
  error?: string;
  classify: ClassifyState;
  teach: TeachState;
}

export function newAppState(): AppState {
  const app: AppState = { ready: false, classify: { state: "idle" }, teach: { state: "idle", losses: [] } };
  (globalThis as { vifiApp?: AppState }).vifiApp = app;
  return app;
}
