// Small results databases for the dashboard tests: a finished run with every kind of data the run page
// draws, a run whose name, classes and config try to inject markup, and a run still going.

import type { ResultsStore } from "../../lib/results/store.ts";

export const EVIL = "<script>alert(1)</script>";

export function classNames(n: number): string[] {
  return Array.from(
    { length: n },
    (_, i) => (i === 1 ? `<img src=x onerror=alert(2)> & "${i}"` : `class ${i}`),
  );
}

export function fillFixtureRuns(store: ResultsStore): { done: number; evil: number; running: number } {
  const names = classNames(3);
  const done = store.startRun({
    experiment: "synthetic-b2n",
    protocol: { kind: "base-to-novel", dataset: "synthetic", seed: 1 },
    variant: "both",
    config: { train: { lr: 0.001, epochs: 2 }, name: "synthetic-b2n" },
    commit: null,
    seed: 1,
    device: "test adapter",
  });
  store.logSteps(
    done,
    Array.from({ length: 12 }, (_, s) => ({ step: s, epoch: s < 6 ? 0 : 1, loss: 3 - s * 0.1, lr: 1e-3 })),
  );
  store.logEpoch(done, { epoch: 0, trainLoss: 2.8, valTop1: 20, valTop5: 60, seconds: 3 });
  store.logEpoch(done, { epoch: 1, trainLoss: 2.3, valTop1: 30, valTop5: 70, seconds: 3 });
  for (const subset of ["base", "novel"] as const) {
    const ev = store.addEval(done, {
      name: subset,
      subset,
      clips: 1,
      crops: 1,
      top1: subset === "base" ? 40 : 20,
      top5: 80,
      count: 30,
      epoch: 1,
      perClass: names.map((name, i) => ({ name, correct: i + 2, total: 10 })),
      confusion: [[5, 3, 2], [1, 8, 1], [0, 0, 10]],
    });
    // three well-separated clusters of 10 points in 8-D
    const n = 30, dim = 8, vectors = new Float32Array(n * dim), labels: number[] = [];
    for (let i = 0; i < n; i++) {
      labels.push(i % 3);
      for (let d = 0; d < dim; d++) vectors[i * dim + d] = (d === i % 3 ? 5 : 0) + Math.sin(i * 7 + d) * 0.3;
    }
    store.addEmbeddings(ev, { vectors, dim, labels, classNames: names });
  }
  store.addCheckpoint(done, { epoch: 1, kind: "best", path: "/tmp/ckpt/best.vifi", top1: 40 });
  store.finishRun(done, {
    status: "done",
    metrics: { evals: { base: { top1: 40, top5: 80 }, novel: { top1: 20, top5: 80 } } },
  });

  const evil = store.startRun({
    experiment: EVIL,
    protocol: { kind: "custom" },
    variant: `${EVIL}v`,
    config: { note: `</script><script>alert(3)</script>`, "<b>key</b>": "&amp;" },
    commit: null,
    seed: 2,
    device: `<i>gpu</i>`,
  });
  store.logSteps(evil, [{ step: 0, epoch: 0, loss: 1, lr: 1e-3 }, {
    step: 1,
    epoch: 0,
    loss: 0.5,
    lr: 1e-3,
  }]);
  store.addEval(evil, {
    name: `${EVIL}eval`,
    clips: 1,
    crops: 1,
    top1: 50,
    top5: 90,
    count: 10,
    perClass: names.map((name) => ({ name, correct: 1, total: 2 })),
    confusion: [[1, 1, 0], [0, 1, 1], [1, 0, 1]],
  });
  store.finishRun(evil, { status: "done", metrics: { evals: { [EVIL]: { top1: 50, top5: 90 } } } });

  const running = store.startRun({
    experiment: "still-going",
    protocol: { kind: "zero-shot", dataset: "hmdb" },
    variant: "both",
    config: {},
    commit: null,
    seed: 3,
    device: "test adapter",
  });
  return { done, evil, running };
}

/**
 * A strict-enough XML well-formedness check for generated SVG: quoted attributes without "<", only
 * the five predefined or numeric entities, balanced tags, one root element. Returns the problem or null.
 */
export function xmlProblem(text: string): string | null {
  let s = text.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: string[] = [];
  let roots = 0;
  const entity = /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;
  const checkText = (t: string) => {
    for (let i = t.indexOf("&"); i >= 0; i = t.indexOf("&", i + 1)) {
      if (!entity.test(t.slice(i))) return `bad entity at "${t.slice(i, i + 12)}"`;
    }
    return null;
  };
  while (s.length) {
    const lt = s.indexOf("<");
    const text = lt < 0 ? s : s.slice(0, lt);
    if (text.trim() && !stack.length) return `text outside the root: "${text.slice(0, 30)}"`;
    const bad = checkText(text);
    if (bad) return bad;
    if (lt < 0) break;
    s = s.slice(lt);
    const close = /^<\/([A-Za-z][\w:.-]*)\s*>/.exec(s);
    if (close) {
      if (stack.pop() !== close[1]) return `</${close[1]}> does not close the open element`;
      s = s.slice(close[0].length);
      continue;
    }
    const open = /^<([A-Za-z][\w:.-]*)((?:\s+[A-Za-z_:][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/.exec(
      s,
    );
    if (!open) return `malformed tag at "${s.slice(0, 40)}"`;
    const names = [...open[2].matchAll(/([A-Za-z_:][\w:.-]*)\s*=/g)].map((m) => m[1]);
    if (new Set(names).size !== names.length) return `duplicate attribute in <${open[1]}>`;
    for (const v of open[2].matchAll(/=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      const bad = checkText(v[1] ?? v[2] ?? "");
      if (bad) return `${bad} in an attribute of <${open[1]}>`;
    }
    if (!stack.length) roots++;
    if (!open[3]) stack.push(open[1]);
    s = s.slice(open[0].length);
  }
  if (stack.length) return `unclosed <${stack.at(-1)}>`;
  return roots === 1 ? null : `${roots} root elements`;
}
