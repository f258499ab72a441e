// Training progress on stderr: a redrawn line with ETA, loss, lr and frames/s on a terminal; one plain
// line per interval otherwise, so logs and CI stay readable.

import type { ProgressEvent } from "../train/trainer.ts";

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`;
}

export function formatProgress(e: ProgressEvent, width = 20): string {
  const frac = e.iteration / e.iterations;
  const bar = "#".repeat(Math.round(frac * width)).padEnd(width, "-");
  return `epoch ${e.epoch + 1}/${e.epochs} [${bar}] ${e.iteration}/${e.iterations} ` +
    `loss ${e.loss.toFixed(4)} (${e.meanLoss.toFixed(4)}) lr ${e.lr.toExponential(2)} ` +
    `${e.framesPerSec.toFixed(0)} frames/s ETA ${formatDuration(e.etaSeconds)}`;
}

export interface TrainProgress {
  update(e: ProgressEvent): void;
  /** a log line that must not be drawn over */
  line(s: string): void;
  done(): void;
}

/** `everyIterations`: the line interval when not on a terminal (the upstream's PRINT_FREQ is 50). */
export function trainProgress(opts: { tty?: boolean; everyIterations?: number } = {}): TrainProgress {
  const tty = opts.tty ?? Deno.stderr.isTerminal();
  const every = opts.everyIterations ?? 50;
  const enc = new TextEncoder();
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s));
  let drawn = false, lastDraw = 0;
  return {
    update(e) {
      if (tty) {
        const now = performance.now();
        if (now - lastDraw < 100 && e.iteration !== e.iterations) return;
        lastDraw = now;
        write(`\r${formatProgress(e)}\x1b[K`);
        drawn = true;
      } else if (e.iteration % every === 0 || e.iteration === e.iterations) {
        write(formatProgress(e) + "\n");
      }
    },
    line(s) {
      if (drawn) write("\r\x1b[K");
      drawn = false;
      write(s + "\n");
    },
    done() {
      if (drawn) write("\n");
      drawn = false;
    },
  };
}
