// Deeply nested pickles: 200k nested lists used to overflow the JS stack ("Maximum call stack size
// exceeded", no file name) in the code that walks the unpickled value. Every way of nesting must end
// in a one-line error naming the file, from the unpickler, the torch reader and `weights inspect`.

import { readTorch } from "../../lib/io/torch.ts";
import { toPlain, unpickle } from "../../lib/io/pickle.ts";
import { writeZip } from "../../lib/io/zip.ts";
import { runCli } from "../run_cli.ts";

const N = 200_000;

function bytes(...parts: (number | number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

function repeat(unit: number[], n: number): Uint8Array {
  const out = new Uint8Array(unit.length * n);
  for (let i = 0; i < n; i++) out.set(unit, i * unit.length);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return concatAll(parts);
}

function concatAll(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const PROTO = bytes(0x80, 2);
const STOP = bytes(0x2e);

/** The nestings a pickle can express, each N levels deep. */
const NESTINGS: Record<string, Uint8Array> = {
  // N empty lists, then N-1 APPENDs: each list goes into the one below it
  "lists by APPEND": concat(PROTO, repeat([0x5d], N), repeat([0x61], N - 1), STOP),
  // N MARKs, then N LISTs: each list holds the one built before it
  "lists by MARK/LIST": concat(PROTO, repeat([0x28], N), repeat([0x6c], N), STOP),
  // a tuple of a tuple of … None
  "tuples by TUPLE1": concat(PROTO, bytes(0x4e), repeat([0x85], N), STOP),
  // {"k": {"k": … }} built from the inside out
  "dicts by SETITEM": concat(
    PROTO,
    repeat([0x7d, 0x8c, 1, 0x6b], N), // EMPTY_DICT, SHORT_BINUNICODE "k" — N times
    bytes(0x4e), // the innermost value
    repeat([0x73], N), // SETITEM N times: each dict takes the one above it on the stack
    STOP,
  ),
  // built from the outside in through the memo, so no single step sees a deep value:
  // EMPTY_LIST, LONG_BINPUT i, APPEND, POP, LONG_BINGET i — the new list becomes the current one
  "lists by memo, outside in": (() => {
    const parts = [PROTO, bytes(0x5d, 0x72, 0, 0, 0, 0)];
    const unit = new Uint8Array(16);
    const step = (i: number) => {
      const v = new DataView(unit.buffer);
      unit.set([0x5d, 0x72], 0);
      v.setUint32(2, i, true);
      unit.set([0x61, 0x30, 0x6a], 6);
      v.setUint32(9, i, true);
      return unit.slice(0, 13);
    };
    for (let i = 1; i < N; i++) parts.push(step(i));
    parts.push(bytes(0x30, 0x6a, 0, 0, 0, 0), STOP);
    return concatAll(parts);
  })(),
};

function oneLineNaming(e: unknown, file: string, what: string): string {
  if (!(e instanceof Error) || e.constructor !== Error) {
    throw new Error(`${what}: threw ${e instanceof Error ? e.constructor.name : typeof e}: ${e}`);
  }
  if (e.message.includes("\n")) throw new Error(`${what}: message has several lines: ${e.message}`);
  if (!e.message.includes(file)) throw new Error(`${what}: message does not name ${file}: ${e.message}`);
  if (/call stack/i.test(e.message)) throw new Error(`${what}: a stack overflow in disguise: ${e.message}`);
  return e.message;
}

function expectRefusal(f: () => unknown, file: string, what: string): string {
  try {
    f();
  } catch (e) {
    return oneLineNaming(e, file, what);
  }
  throw new Error(`${what}: accepted`);
}

Deno.test("deep pickles: unpickle, then walking the value, refuse with a one-line error naming the file", () => {
  for (const [how, pkl] of Object.entries(NESTINGS)) {
    // the unpickler either refuses the depth itself or returns a value every walker handles
    let value: unknown;
    try {
      value = unpickle(pkl, { fileName: "deep.pkl" });
    } catch (e) {
      oneLineNaming(e, "deep.pkl", `unpickle (${how})`);
      continue;
    }
    expectRefusal(() => toPlain(value, "deep.pkl"), "deep.pkl", `toPlain (${how})`);
  }
});

Deno.test("deep pickles inside a torch zip: readTorch and `weights inspect` refuse in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-deep-" });
  try {
    for (const [how, pkl] of Object.entries(NESTINGS)) {
      const zip = writeZip([["archive/data.pkl", pkl], ["archive/version", new TextEncoder().encode("3\n")]]);
      expectRefusal(() => readTorch(zip, "deep.pth"), "deep.pth", `readTorch (${how})`);
      const file = `${dir}/deep.pth`;
      await Deno.writeFile(file, zip);
      const r = await runCli("weights", "inspect", file);
      if (r.code !== 1) throw new Error(`inspect (${how}): exit ${r.code}: ${r.err}`);
      const lines = r.err.trim().split("\n");
      if (lines.length !== 1 || !lines[0].includes(file) || /call stack|\n\s+at /.test(r.err)) {
        throw new Error(`inspect (${how}): ${r.err}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shared references: 22 levels of [x, x] (4M paths to walk) are refused, not walked", () => {
  // L0 = []; Li = [L(i-1), L(i-1)] through the memo: a few hundred bytes whose walk visits 2^22 lists
  const LEVELS = 22;
  const parts = [PROTO, bytes(0x5d, 0x72, 0, 0, 0, 0)];
  for (let i = 1; i <= LEVELS; i++) {
    const u = new Uint8Array(18);
    const v = new DataView(u.buffer);
    u.set([0x28, 0x6a], 0); // MARK, LONG_BINGET i-1
    v.setUint32(2, i - 1, true);
    u[6] = 0x6a; // LONG_BINGET i-1
    v.setUint32(7, i - 1, true);
    u.set([0x6c, 0x72], 11); // LIST, LONG_BINPUT i
    v.setUint32(13, i, true);
    u[17] = 0x30; // POP: the memo holds it
    parts.push(u);
  }
  const last = new Uint8Array(5);
  last[0] = 0x6a;
  new DataView(last.buffer).setUint32(1, LEVELS, true);
  parts.push(bytes(0x30), last, STOP);
  const zip = writeZip([
    ["archive/data.pkl", concat(...parts)],
    ["archive/version", new TextEncoder().encode("3\n")],
  ]);
  const message = expectRefusal(() => readTorch(zip, "shared.pth"), "shared.pth", "readTorch (shared)");
  if (!/references|visits|shared/.test(message)) throw new Error(`unexpected refusal: ${message}`);
});
