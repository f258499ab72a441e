// Python pickles as torch writes them (torch.save: protocol 2 from Python's pickler; torch.jit.save:
// protocol 2 from TorchScript's C++ pickler; files re-saved by newer tools: protocols 4-5). Nothing is
// ever executed: each global resolves through a registry of handlers, and any class the registry does
// not know becomes inert data, so a checkpoint carrying a yacs config or argparse namespace still loads.

import { oneLine } from "./messages.ts";

/** A global reference (`module.name`) found in a pickle; also the value of a bare GLOBAL. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * An instance of a class the registry does not know, kept as data: constructor arguments, the state
 * given to BUILD (its `__dict__` or `__setstate__` argument), and for dict or list subclasses (yacs'
 * CfgNode is a dict) the items pickle added to it.
 */
export interface PyObject {
  __class__: string;
  args: unknown[];
  state?: unknown;
  dictItems?: Record<string, unknown>;
  listItems?: unknown[];
}

export function isPyObject(v: unknown): v is PyObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) &&
    typeof (v as { __class__?: unknown }).__class__ === "string" && Array.isArray((v as PyObject).args);
}

/** What a global does when the pickle calls it (REDUCE), instantiates it (NEWOBJ) or builds onto its result. */
export interface GlobalHandler {
  call?(args: unknown[]): unknown;
  newobj?(args: unknown[]): unknown;
  /** BUILD on an object this handler created; return the object that replaces it */
  build?(obj: unknown, state: unknown): unknown;
}

export type GlobalRegistry = Map<string, GlobalHandler>;

export interface UnpickleOptions {
  /** named in every error */
  fileName: string;
  /** extra or overriding handlers, keyed "module.name" */
  globals?: GlobalRegistry;
  /** resolves BINPERSID/PERSID ids (torch: storages) */
  persistentLoad?: (pid: unknown) => unknown;
}

// Dicts built by OrderedDict carry pickled attributes (torch's state_dict `_metadata`) that must not
// show up as keys, so BUILD stores them as non-enumerable properties.
const dictFactories = new WeakSet<object>();

function newDict(): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  dictFactories.add(d);
  return d;
}

/**
 * How deep unpickled values may nest. Real checkpoints stay under a few dozen levels; the limit keeps
 * every recursive walk over a value (here, in torch.ts, in a caller) far from the JS stack's end.
 */
export const MAX_PICKLE_DEPTH = 1000;

/** The error a walk over a too-deep (or self-containing) value throws, naming the file. */
export function tooDeep(fileName: string): Error {
  return new Error(
    `${fileName}: pickle: values nested more than ${MAX_PICKLE_DEPTH} levels deep (or a value that contains itself)`,
  );
}

function dictKey(k: unknown, depth = 0): string {
  if (typeof k === "string") return k;
  if (typeof k === "number" || typeof k === "bigint" || typeof k === "boolean") return String(k);
  if (k === null) return "None";
  // a tuple key nested past any sane depth is shortened rather than recursed into
  if (Array.isArray(k)) return depth > 8 ? "(…)" : `(${k.map((x) => dictKey(x, depth + 1)).join(", ")})`;
  return typeof k === "object" ? Object.prototype.toString.call(k) : String(k);
}

/** A value for an error message: one line, at most `max` characters, safe on any unpickled value. */
export function brief(v: unknown, max = 80): string {
  const parts: string[] = [];
  let length = 0;
  const put = (s: string) => {
    parts.push(s);
    length += s.length;
  };
  const go = (x: unknown, depth: number): void => {
    if (length > max) return;
    if (typeof x === "string") put(JSON.stringify(x.length > max ? x.slice(0, max) : x));
    else if (typeof x === "bigint") put(`${x}`);
    else if (x === null || typeof x !== "object") put(String(x));
    else if (x instanceof PyGlobal) put(x.fullName);
    else if (ArrayBuffer.isView(x)) put(`<${x.byteLength} bytes>`);
    else if (depth > 4) put("…");
    else if (Array.isArray(x)) {
      put("[");
      x.forEach((y, i) => {
        if (i) put(", ");
        go(y, depth + 1);
      });
      put("]");
    } else put(isPyObject(x) ? `<${x.__class__}>` : "{…}");
  };
  go(v, 0);
  const s = parts.join("");
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function setKey(obj: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") {
    Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  } else obj[k] = v;
}

function passFirst(args: unknown[]): unknown {
  return args[0];
}

function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

interface NumpyDtype {
  __numpyDtype: string;
  littleEndian: boolean;
}

function numpyScalar(dtype: NumpyDtype, raw: Uint8Array): unknown {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const le = dtype.littleEndian;
  switch (dtype.__numpyDtype) {
    case "f8":
      return v.getFloat64(0, le);
    case "f4":
      return v.getFloat32(0, le);
    case "i8": {
      const b = v.getBigInt64(0, le);
      return Number.isSafeInteger(Number(b)) ? Number(b) : b;
    }
    case "i4":
      return v.getInt32(0, le);
    case "b1":
      return raw[0] !== 0;
    default:
      return { __class__: "numpy.scalar", args: [dtype, raw] } satisfies PyObject;
  }
}

/** Handlers for the non-torch globals that checkpoints commonly contain. */
export function defaultGlobals(): GlobalRegistry {
  const r: GlobalRegistry = new Map();
  const ordered: GlobalHandler = { call: () => newDict(), newobj: () => newDict() };
  r.set("collections.OrderedDict", ordered);
  r.set("builtins.dict", ordered);
  r.set("__builtin__.dict", ordered);
  for (const m of ["builtins", "__builtin__"]) {
    r.set(`${m}.set`, { call: (a) => [...((a[0] as unknown[]) ?? [])] });
    r.set(`${m}.frozenset`, { call: (a) => [...((a[0] as unknown[]) ?? [])] });
    r.set(`${m}.list`, { call: (a) => [...((a[0] as unknown[]) ?? [])] });
    r.set(`${m}.tuple`, { call: (a) => [...((a[0] as unknown[]) ?? [])] });
    r.set(`${m}.bytearray`, {
      call: (a) => (typeof a[0] === "string" ? latin1(a[0]) : (a[0] as Uint8Array) ?? new Uint8Array()),
    });
  }
  // Protocol 2 has no bytes opcode: Python writes bytes as _codecs.encode(text, "latin1").
  r.set("_codecs.encode", { call: (a) => latin1(String(a[0])) });
  for (const m of ["copy_reg", "copyreg"]) {
    r.set(`${m}._reconstructor`, {
      call: (a) =>
        ({ __class__: (a[0] as PyGlobal)?.fullName ?? "?", args: [], state: a[2] }) satisfies PyObject,
    });
  }
  // TorchScript wraps typed lists and dicts in these; the element type does not matter to us.
  for (
    const n of [
      "build_intlist",
      "build_tensorlist",
      "build_doublelist",
      "build_boollist",
      "build_list",
      "restore_type_tag",
    ]
  ) r.set(`torch.jit._pickle.${n}`, { call: passFirst });
  // numpy scalars (a best accuracy taken from numpy) keep their value.
  for (const m of ["numpy.core.multiarray", "numpy._core.multiarray"]) {
    r.set(`${m}.scalar`, {
      call: (a) => {
        const d = a[0] as NumpyDtype;
        const raw = typeof a[1] === "string" ? latin1(a[1]) : a[1] as Uint8Array;
        return d && typeof d.__numpyDtype === "string"
          ? numpyScalar(d, raw)
          : { __class__: "numpy.scalar", args: a };
      },
    });
  }
  r.set("numpy.dtype", {
    call: (a) => ({ __numpyDtype: String(a[0]), littleEndian: true }) satisfies NumpyDtype,
    build: (obj, state) => {
      if (Array.isArray(state) && typeof state[1] === "string") {
        (obj as NumpyDtype).littleEndian = state[1] !== ">";
      }
      return obj;
    },
  });
  return r;
}

// The opcode families Unpickler.run dispatches on (0: not an opcode). A flat table keeps the hot loop to
// one indexed load and two small switches per opcode, with nothing allocated.
const STOP = 1, STACK = 2, MEMO = 3, NUMBER = 4, TEXT = 5, CONTAINER = 6, OBJECT = 7;

const FAMILY: Uint8Array = (() => {
  const t = new Uint8Array(256);
  const families: [number, number[]][] = [
    [STOP, [0x2e]],
    // PROTO FRAME MARK POP POP_MARK DUP
    [STACK, [0x80, 0x95, 0x28, 0x30, 0x31, 0x32]],
    // BINPUT LONG_BINPUT PUT MEMOIZE BINGET LONG_BINGET GET
    [MEMO, [0x71, 0x72, 0x70, 0x94, 0x68, 0x6a, 0x67]],
    // NONE NEWTRUE NEWFALSE BININT BININT1 BININT2 LONG1 LONG4 INT LONG FLOAT BINFLOAT
    [NUMBER, [0x4e, 0x88, 0x89, 0x4a, 0x4b, 0x4d, 0x8a, 0x8b, 0x49, 0x4c, 0x46, 0x47]],
    // SHORT_BINUNICODE BINUNICODE BINUNICODE8 SHORT_BINSTRING BINSTRING UNICODE STRING
    // SHORT_BINBYTES BINBYTES BINBYTES8 BYTEARRAY8
    [TEXT, [0x8c, 0x58, 0x8d, 0x55, 0x54, 0x56, 0x53, 0x43, 0x42, 0x8e, 0x96]],
    // built: EMPTY_DICT EMPTY_LIST EMPTY_TUPLE EMPTY_SET FROZENSET TUPLE LIST DICT TUPLE1 TUPLE2 TUPLE3
    [CONTAINER, [0x7d, 0x5d, 0x29, 0x8f, 0x91, 0x74, 0x6c, 0x64, 0x85, 0x86, 0x87]],
    // filled: ADDITEMS APPENDS SETITEM SETITEMS APPEND
    [CONTAINER, [0x90, 0x65, 0x73, 0x75, 0x61]],
    // GLOBAL STACK_GLOBAL REDUCE NEWOBJ NEWOBJ_EX INST OBJ BUILD BINPERSID PERSID
    [OBJECT, [0x63, 0x93, 0x52, 0x81, 0x92, 0x69, 0x6f, 0x62, 0x51, 0x50]],
  ];
  for (const [family, ops] of families) for (const op of ops) t[op] = family;
  return t;
})();

// Memo values are looked up by index; a sparse array is faster than a Map for the dense indices pickle uses.
class Unpickler {
  private pos = 0;
  private stack: unknown[] = [];
  private marks: number[] = [];
  private memo: unknown[] = [];
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder("utf-8", { fatal: false });
  private readonly globals: GlobalRegistry;
  private readonly created = new WeakMap<object, GlobalHandler>();
  /** nesting depth of each container built so far (0 for scalars), checked against MAX_PICKLE_DEPTH */
  private readonly depths = new WeakMap<object, number>();

  constructor(private readonly b: Uint8Array, private readonly opts: UnpickleOptions) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.globals = new Map([...defaultGlobals(), ...(opts.globals ?? [])]);
  }

  private fail(what: string): never {
    throw new Error(`${this.opts.fileName}: pickle: ${oneLine(what)}`);
  }

  private need(n: number, op: number, at: number): void {
    if (this.pos + n > this.b.length) {
      this.fail(`truncated: opcode 0x${hex(op)} at offset ${at} needs ${n} more bytes`);
    }
  }

  /** Records that `container` now holds `children`; refuses values nested deeper than the limit. */
  private nest<T>(container: T, children: Iterable<unknown>, at: number): T {
    if (typeof container !== "object" || container === null) return container;
    let d = this.depths.get(container) ?? 0;
    for (const c of children) {
      if (typeof c === "object" && c !== null) d = Math.max(d, (this.depths.get(c) ?? 0) + 1);
    }
    if (d > MAX_PICKLE_DEPTH) {
      this.fail(`values nested more than ${MAX_PICKLE_DEPTH} levels deep at offset ${at}`);
    }
    this.depths.set(container, Math.max(d, 1));
    return container;
  }

  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail(`MARK missing at offset ${this.pos - 1}`);
    const items = this.stack.splice(m!);
    return items;
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.fail(`stack underflow at offset ${this.pos - 1}`);
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.fail(`stack underflow at offset ${this.pos - 1}`);
    return this.stack[this.stack.length - 1];
  }

  private line(): string {
    const end = this.b.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`truncated: unterminated text argument at offset ${this.pos}`);
    const s = this.utf8.decode(this.b.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private bytes(n: number): Uint8Array {
    if (this.pos + n > this.b.length) this.fail(`truncated: ${n}-byte argument at offset ${this.pos}`);
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private len8(): number {
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} too large at offset ${this.pos - 8}`);
    return Number(v);
  }

  private str(n: number): string {
    return this.utf8.decode(this.bytes(n));
  }

  private resolve(module: string, name: string): PyGlobal {
    return new PyGlobal(module, name);
  }

  private call(func: unknown, args: unknown[], how: "call" | "newobj"): unknown {
    if (!(func instanceof PyGlobal)) {
      this.fail(
        `${how === "call" ? "REDUCE" : "NEWOBJ"} on a non-global ${describe(func)} at offset ${this.pos - 1}`,
      );
    }
    const g = func as PyGlobal;
    const h = this.globals.get(g.fullName);
    const fn = how === "call" ? (h?.call ?? h?.newobj) : (h?.newobj ?? h?.call);
    let out: unknown;
    if (fn) {
      try {
        out = fn(args);
      } catch (e) {
        this.fail(`${g.fullName}(...) failed at offset ${this.pos - 1}: ${(e as Error).message}`);
      }
    } else {
      out = { __class__: g.fullName, args } satisfies PyObject;
    }
    if (h && typeof out === "object" && out !== null) this.created.set(out, h);
    return this.nest(out, args, this.pos - 1);
  }

  private build(obj: unknown, state: unknown): unknown {
    this.nest(obj, [state], this.pos - 1);
    if (typeof obj === "object" && obj !== null) {
      const h = this.created.get(obj);
      if (h?.build) return h.build(obj, state);
      if (isPyObject(obj)) {
        if (
          obj.state && typeof obj.state === "object" && !Array.isArray(obj.state) && state &&
          typeof state === "object" && !Array.isArray(state)
        ) Object.assign(obj.state, state);
        else obj.state = state;
        return obj;
      }
      if (dictFactories.has(obj) && state && typeof state === "object" && !Array.isArray(state)) {
        for (const [k, v] of Object.entries(state)) {
          Object.defineProperty(obj, k, { value: v, enumerable: false, writable: true, configurable: true });
        }
        return obj;
      }
    }
    // BUILD on anything else (a tensor rebuilt from a handler without build, say) keeps the state aside.
    if (typeof obj === "object" && obj !== null) {
      Object.defineProperty(obj, "__state__", { value: state, enumerable: false, configurable: true });
    }
    return obj;
  }

  private setItems(target: unknown, items: unknown[], at: number): void {
    let d: Record<string, unknown>;
    if (isPyObject(target)) d = target.dictItems ??= newDict();
    else if (typeof target === "object" && target !== null && !Array.isArray(target)) {
      d = target as Record<string, unknown>;
    } else this.fail(`SETITEM(S) on ${describe(target)} at offset ${at}`);
    for (let i = 0; i + 1 < items.length; i += 2) setKey(d!, dictKey(items[i]), items[i + 1]);
    this.nest(d!, items, at);
    if (d! !== target) this.nest(target, [d!], at);
  }

  private appendItems(target: unknown, items: unknown[], at: number): void {
    let list: unknown[];
    if (Array.isArray(target)) list = target;
    else if (isPyObject(target)) list = target.listItems ??= [];
    else this.fail(`APPEND(S) on ${describe(target)} at offset ${at}`);
    // a loop, not push(...items): a spread of a huge APPENDS overflows the stack
    for (const x of items) list!.push(x);
    this.nest(list!, items, at);
    if (list! !== target) this.nest(target, [list!], at);
  }

  run(): unknown {
    const b = this.b;
    while (this.pos < b.length) {
      const at = this.pos;
      const op = b[this.pos++];
      // one table lookup picks the family; each family's handler switches on the opcode itself
      switch (FAMILY[op]) {
        case STOP:
          if (this.stack.length !== 1) {
            this.fail(`STOP at offset ${at} with ${this.stack.length} values on the stack`);
          }
          return this.stack[0];
        case STACK:
          this.stackOp(op, at);
          break;
        case MEMO:
          this.memoOp(op, at);
          break;
        case NUMBER:
          this.numberOp(op, at);
          break;
        case TEXT:
          this.textOp(op, at);
          break;
        case CONTAINER:
          this.containerOp(op, at);
          break;
        case OBJECT:
          this.objectOp(op, at);
          break;
        default:
          this.fail(`invalid opcode 0x${hex(op)} at offset ${at}`);
      }
    }
    this.fail(`truncated: no STOP opcode before the end (${b.length} bytes)`);
  }

  /** Protocol and framing headers, MARK and the stack's own moves. */
  private stackOp(op: number, at: number): void {
    const b = this.b;
    switch (op) {
      case 0x80: // PROTO
        this.need(1, op, at);
        if (b[this.pos] > 5) this.fail(`unsupported pickle protocol ${b[this.pos]} at offset ${at}`);
        this.pos++;
        break;
      case 0x95: // FRAME: framing only groups opcodes for buffered readers
        this.need(8, op, at);
        this.pos += 8;
        break;
      case 0x28: // MARK
        this.marks.push(this.stack.length);
        break;
      case 0x30: // POP
        this.pop();
        break;
      case 0x31: // POP_MARK
        this.popMark();
        break;
      case 0x32: // DUP
        this.stack.push(this.top());
        break;
    }
  }

  /** The memo: values stored by index (PUT and MEMOIZE) and pushed again (GET). */
  private memoOp(op: number, at: number): void {
    const b = this.b;
    const v = this.view;
    switch (op) {
      case 0x71: // BINPUT
        this.need(1, op, at);
        this.memo[b[this.pos++]] = this.top();
        break;
      case 0x72: // LONG_BINPUT
        this.need(4, op, at);
        this.memo[v.getUint32(this.pos, true)] = this.top();
        this.pos += 4;
        break;
      case 0x70: // PUT (text)
        this.memo[Number(this.line())] = this.top();
        break;
      case 0x94: // MEMOIZE
        this.memo.push(this.top());
        break;
      case 0x68: // BINGET
        this.need(1, op, at);
        this.stack.push(this.memoGet(b[this.pos++], at));
        break;
      case 0x6a: // LONG_BINGET
        this.need(4, op, at);
        this.stack.push(this.memoGet(v.getUint32(this.pos, true), at));
        this.pos += 4;
        break;
      case 0x67: // GET (text)
        this.stack.push(this.memoGet(Number(this.line()), at));
        break;
    }
  }

  /** None, booleans, ints (binary and text) and floats. */
  private numberOp(op: number, at: number): void {
    const b = this.b;
    const v = this.view;
    const st = this.stack;
    switch (op) {
      case 0x4e: // NONE
        st.push(null);
        break;
      case 0x88: // NEWTRUE
        st.push(true);
        break;
      case 0x89: // NEWFALSE
        st.push(false);
        break;
      case 0x4a: // BININT
        this.need(4, op, at);
        st.push(v.getInt32(this.pos, true));
        this.pos += 4;
        break;
      case 0x4b: // BININT1
        this.need(1, op, at);
        st.push(b[this.pos++]);
        break;
      case 0x4d: // BININT2
        this.need(2, op, at);
        st.push(v.getUint16(this.pos, true));
        this.pos += 2;
        break;
      case 0x8a: // LONG1
        this.need(1, op, at);
        st.push(longLE(this.bytes(b[this.pos++])));
        break;
      case 0x8b: { // LONG4
        this.need(4, op, at);
        const n = v.getInt32(this.pos, true);
        this.pos += 4;
        if (n < 0) this.fail(`LONG4 with negative length at offset ${at}`);
        st.push(longLE(this.bytes(n)));
        break;
      }
      case 0x49: { // INT (text; protocol 0, and "I01"/"I00" for booleans)
        const s = this.line();
        if (s === "01") st.push(true);
        else if (s === "00") st.push(false);
        else st.push(this.textInt(s, at));
        break;
      }
      case 0x4c: // LONG (text)
        st.push(this.textInt(this.line().replace(/L$/, ""), at));
        break;
      case 0x46: // FLOAT (text)
        st.push(parseFloat(this.line()));
        break;
      case 0x47: // BINFLOAT (big-endian)
        this.need(8, op, at);
        st.push(v.getFloat64(this.pos, false));
        this.pos += 8;
        break;
    }
  }

  /** Strings (unicode, Python 2 str) and bytes. */
  private textOp(op: number, at: number): void {
    const b = this.b;
    const v = this.view;
    const st = this.stack;
    switch (op) {
      case 0x8c: // SHORT_BINUNICODE
        this.need(1, op, at);
        st.push(this.str(b[this.pos++]));
        break;
      case 0x58: { // BINUNICODE
        this.need(4, op, at);
        const n = v.getUint32(this.pos, true);
        this.pos += 4;
        st.push(this.str(n));
        break;
      }
      case 0x8d: // BINUNICODE8
        this.need(8, op, at);
        st.push(this.str(this.len8()));
        break;
      case 0x55: // SHORT_BINSTRING (Python 2 str)
        this.need(1, op, at);
        st.push(latin1Decode(this.bytes(b[this.pos++])));
        break;
      case 0x54: { // BINSTRING
        this.need(4, op, at);
        const n = v.getInt32(this.pos, true);
        this.pos += 4;
        // a negative length would move the read position back before the data
        if (n < 0) this.fail(`BINSTRING with negative length at offset ${at}`);
        st.push(latin1Decode(this.bytes(n)));
        break;
      }
      case 0x56: // UNICODE (raw-unicode-escape text; only ASCII expected here)
        st.push(this.line());
        break;
      case 0x53: { // STRING (quoted repr)
        const s = this.line();
        st.push(s.slice(1, -1));
        break;
      }
      case 0x43: // SHORT_BINBYTES
        this.need(1, op, at);
        st.push(this.bytes(b[this.pos++]).slice());
        break;
      case 0x42: { // BINBYTES
        this.need(4, op, at);
        const n = v.getUint32(this.pos, true);
        this.pos += 4;
        st.push(this.bytes(n).slice());
        break;
      }
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        this.need(8, op, at);
        st.push(this.bytes(this.len8()).slice());
        break;
    }
  }

  /** Dicts, lists, tuples and sets: built empty or from the stack, and filled. */
  private containerOp(op: number, at: number): void {
    const st = this.stack;
    switch (op) {
      case 0x7d: // EMPTY_DICT
        st.push(newDict());
        break;
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
      case 0x8f: // EMPTY_SET
        st.push([]);
        break;
      case 0x90: // ADDITEMS
      case 0x65: { // APPENDS
        const items = this.popMark();
        this.appendItems(this.top(), items, at);
        break;
      }
      case 0x91: // FROZENSET
      case 0x74: // TUPLE
      case 0x6c: { // LIST
        const items = this.popMark();
        st.push(this.nest(items, items, at));
        break;
      }
      case 0x64: { // DICT
        const items = this.popMark();
        const d = newDict();
        this.setItems(d, items, at);
        st.push(d);
        break;
      }
      case 0x85: { // TUPLE1
        const t = [this.pop()];
        st.push(this.nest(t, t, at));
        break;
      }
      case 0x86: { // TUPLE2
        const y = this.pop(), x = this.pop();
        st.push(this.nest([x, y], [x, y], at));
        break;
      }
      case 0x87: { // TUPLE3
        const z = this.pop(), y = this.pop(), x = this.pop();
        st.push(this.nest([x, y, z], [x, y, z], at));
        break;
      }
      case 0x73: { // SETITEM
        const val = this.pop(), key = this.pop();
        this.setItems(this.top(), [key, val], at);
        break;
      }
      case 0x75: { // SETITEMS
        const items = this.popMark();
        this.setItems(this.top(), items, at);
        break;
      }
      case 0x61: { // APPEND
        const x = this.pop();
        this.appendItems(this.top(), [x], at);
        break;
      }
    }
  }

  /** Globals, the calls that instantiate them (REDUCE, NEWOBJ, INST, OBJ), BUILD, and persistent ids. */
  private objectOp(op: number, at: number): void {
    const st = this.stack;
    switch (op) {
      case 0x63: { // GLOBAL
        const module = this.line();
        const name = this.line();
        st.push(this.resolve(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = this.pop(), module = this.pop();
        if (typeof name !== "string" || typeof module !== "string") {
          this.fail(`STACK_GLOBAL at offset ${at} needs two strings`);
        }
        st.push(this.resolve(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = this.pop();
        const func = this.pop();
        if (!Array.isArray(args)) {
          this.fail(`REDUCE at offset ${at}: arguments are ${describe(args)}, not a tuple`);
        }
        st.push(this.call(func, args as unknown[], "call"));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = this.pop();
        const cls = this.pop();
        st.push(this.call(cls, Array.isArray(args) ? args : [args], "newobj"));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = this.pop();
        const args = this.pop();
        const cls = this.pop();
        const a = Array.isArray(args) ? [...args] : [args];
        if (kwargs && typeof kwargs === "object" && Object.keys(kwargs).length) a.push(kwargs);
        st.push(this.call(cls, a, "newobj"));
        break;
      }
      case 0x69: { // INST (protocol 0)
        const module = this.line();
        const name = this.line();
        st.push(this.call(this.resolve(module, name), this.popMark(), "newobj"));
        break;
      }
      case 0x6f: { // OBJ (protocol 1)
        const items = this.popMark();
        st.push(this.call(items[0], items.slice(1), "newobj"));
        break;
      }
      case 0x62: { // BUILD
        const state = this.pop();
        const obj = this.pop();
        st.push(this.build(obj, state));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = this.pop();
        st.push(this.persistent(pid, at));
        break;
      }
      case 0x50: // PERSID (text)
        st.push(this.persistent(this.line(), at));
        break;
    }
  }

  private textInt(s: string, at: number): number | bigint {
    if (!/^\s*[+-]?\d+\s*$/.test(s)) this.fail(`INT/LONG at offset ${at}: ${brief(s)} is not an integer`);
    return textInt(s.trim());
  }

  private memoGet(i: number, at: number): unknown {
    if (!(i in this.memo)) this.fail(`memo entry ${i} read before it was written, at offset ${at}`);
    return this.memo[i];
  }

  private persistent(pid: unknown, at: number): unknown {
    if (!this.opts.persistentLoad) this.fail(`persistent id at offset ${at} but no persistent loader`);
    try {
      return this.opts.persistentLoad!(pid);
    } catch (e) {
      const msg = (e as Error).message;
      throw new Error(msg.startsWith(this.opts.fileName) ? msg : `${this.opts.fileName}: ${msg}`);
    }
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function describe(v: unknown): string {
  if (v === null) return "None";
  if (Array.isArray(v)) return "a tuple/list";
  if (v instanceof PyGlobal) return v.fullName;
  return typeof v;
}

function latin1Decode(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

function textInt(s: string): number | bigint {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : BigInt(s);
}

/** Two's-complement little-endian integer: a number when it is exactly representable, else a bigint. */
function longLE(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

/** Read one pickle. Values: dicts → objects, tuples and lists → arrays, bytes → Uint8Array, ints → number (bigint beyond 2^53). */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  return new Unpickler(bytes, opts).run();
}

/**
 * The data of an unpickled value without pickle's wrappers: unknown objects become their dict items
 * (yacs CfgNode → its keys) or else their state, recursively. Typed arrays pass through. A value
 * nested deeper than MAX_PICKLE_DEPTH (or containing itself) is refused with an error naming `fileName`.
 */
export function toPlain(v: unknown, fileName = "pickle"): unknown {
  const go = (v: unknown, depth: number): unknown => {
    if (depth > MAX_PICKLE_DEPTH) throw tooDeep(fileName);
    if (Array.isArray(v)) return v.map((x) => go(x, depth + 1));
    if (v instanceof PyGlobal) return v.fullName;
    if (typeof v !== "object" || v === null || ArrayBuffer.isView(v)) return v;
    if (isPyObject(v)) {
      if (v.dictItems) return go(v.dictItems, depth + 1);
      if (v.listItems) return go(v.listItems, depth + 1);
      if (v.state !== undefined) return go(v.state, depth + 1);
      return { __class__: v.__class__, args: go(v.args, depth + 1) };
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setKey(out, k, go(x, depth + 1));
    return out;
  };
  return go(v, 0);
}

// ---------------------------------------------------------------------------------------------------
// Writing: the protocol-2 subset torch.save produces, which torch.load (and Python's pickle) reads.

/** A Python tuple when pickling (JS arrays pickle as lists). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** `func(*args)`, then optionally dict items set on the result (how OrderedDict pickles itself). */
export class PyReduce {
  constructor(
    readonly func: PyGlobal,
    readonly args: unknown[],
    readonly dictItems?: Iterable<[unknown, unknown]>,
  ) {}
}

/** A persistent id (BINPERSID): the pickle refers to data stored outside it. */
export class PyPersistent {
  constructor(readonly pid: unknown) {}
}

/** A Python float even when the number is integral (JS cannot tell 2 from 2.0). */
export class PyFloat {
  constructor(readonly value: number) {}
}

const ORDERED_DICT = new PyGlobal("collections", "OrderedDict");

/**
 * Pickle with protocol 2 opcodes. Supports null, booleans, numbers (integers → int, others → float),
 * bigint, strings, Uint8Array (as _codecs.encode, Python's protocol-2 bytes), arrays (lists), PyTuple,
 * plain objects (dicts), Map (OrderedDict), PyGlobal, PyReduce, PyPersistent and PyFloat.
 */
export function pickle(value: unknown): Uint8Array {
  const p = new Pickler();
  p.save(value);
  return p.finish();
}

/** Python pickles as many items per SETITEMS or APPENDS batch. */
const BATCH = 1000;

/** The writer's state: the output, and the memo indices of globals already written (each is written once). */
class Pickler {
  private readonly out = new ByteSink();
  private readonly enc = new TextEncoder();
  private readonly memoGlobals = new Map<string, number>();
  private memoNext = 0;

  constructor() {
    this.out.byte(0x80, 2); // PROTO 2
  }

  finish(): Uint8Array {
    this.out.byte(0x2e); // STOP
    return this.out.result();
  }

  save(v: unknown): void {
    const out = this.out;
    if (v === null || v === undefined) out.byte(0x4e);
    else if (v === true) out.byte(0x88);
    else if (v === false) out.byte(0x89);
    else if (typeof v === "number") {
      if (Number.isInteger(v) && !Object.is(v, -0) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) this.int(v);
      else this.save(new PyFloat(v));
    } else if (typeof v === "bigint") this.int(v);
    else if (typeof v === "string") this.str(v);
    else if (v instanceof PyFloat) {
      out.byte(0x47);
      out.f64be(v.value);
    } else if (v instanceof Uint8Array) this.bytes(v);
    else if (v instanceof PyTuple) this.tuple(v.items);
    else if (Array.isArray(v)) this.list(v);
    else if (v instanceof PyGlobal) this.global(v);
    else if (v instanceof PyPersistent) {
      this.save(v.pid);
      out.byte(0x51);
    } else if (v instanceof PyReduce) {
      this.global(v.func);
      this.tuple(v.args);
      out.byte(0x52);
      if (v.dictItems) this.items(v.dictItems);
    } else if (v instanceof Map) {
      this.global(ORDERED_DICT);
      out.byte(0x29, 0x52);
      this.items(v.entries());
    } else if (typeof v === "object") {
      out.byte(0x7d);
      this.items(Object.entries(v as Record<string, unknown>));
    } else throw new TypeError(`pickle: cannot write a ${typeof v}`);
  }

  private str(s: string): void {
    const u = this.enc.encode(s);
    this.out.byte(0x58);
    this.out.u32(u.length);
    this.out.bytes(u);
  }

  /** The shortest of BININT1, BININT2, BININT, else LONG1. */
  private int(n: number | bigint): void {
    const out = this.out;
    if (typeof n === "number" && n >= 0 && n < 256) out.byte(0x4b, n);
    else if (typeof n === "number" && n >= 0 && n < 65536) {
      out.byte(0x4d);
      out.u16(n);
    } else if (typeof n === "number" && n >= -0x80000000 && n <= 0x7fffffff) {
      out.byte(0x4a);
      out.i32(n);
    } else {
      let x = BigInt(n);
      const bytes: number[] = [];
      // Minimal two's complement, as Python writes LONG1.
      while (true) {
        const byte = Number(x & 0xffn);
        bytes.push(byte);
        x >>= 8n;
        if ((x === 0n && !(byte & 0x80)) || (x === -1n && byte & 0x80)) break;
      }
      out.byte(0x8a, bytes.length);
      out.bytes(Uint8Array.from(bytes));
    }
  }

  /** Protocol 2 has no bytes opcode: `_codecs.encode(text, "latin1")`, as Python writes bytes. */
  private bytes(v: Uint8Array): void {
    this.global(new PyGlobal("_codecs", "encode"));
    let s = "";
    for (let i = 0; i < v.length; i++) s += String.fromCharCode(v[i]);
    this.tuple([s, "latin1"]);
    this.out.byte(0x52);
  }

  private global(g: PyGlobal): void {
    const memo = this.memoGlobals.get(g.fullName);
    if (memo !== undefined) return this.memo("get", memo);
    this.out.byte(0x63);
    this.out.bytes(this.enc.encode(`${g.module}\n${g.name}\n`));
    this.memoGlobals.set(g.fullName, this.memoNext);
    this.memo("put", this.memoNext++);
  }

  private memo(kind: "put" | "get", i: number): void {
    if (i < 256) this.out.byte(kind === "put" ? 0x71 : 0x68, i);
    else {
      this.out.byte(kind === "put" ? 0x72 : 0x6a);
      this.out.u32(i);
    }
  }

  /** Dict items set on the object on top of the stack: SETITEM for one, SETITEMS batches for more. */
  private items(items: Iterable<[unknown, unknown]>): void {
    let batch: [unknown, unknown][] = [];
    for (const kv of items) {
      batch.push(kv);
      if (batch.length === BATCH) {
        this.itemBatch(batch);
        batch = [];
      }
    }
    this.itemBatch(batch);
  }

  private itemBatch(batch: [unknown, unknown][]): void {
    if (batch.length === 0) return;
    if (batch.length === 1) {
      this.save(batch[0][0]);
      this.save(batch[0][1]);
      this.out.byte(0x73);
      return;
    }
    this.out.byte(0x28);
    for (const [k, x] of batch) {
      this.save(k);
      this.save(x);
    }
    this.out.byte(0x75);
  }

  private tuple(items: unknown[]): void {
    if (items.length === 0) return this.out.byte(0x29);
    if (items.length <= 3) {
      for (const x of items) this.save(x);
      return this.out.byte([0x85, 0x86, 0x87][items.length - 1]);
    }
    this.out.byte(0x28);
    for (const x of items) this.save(x);
    this.out.byte(0x74);
  }

  /** EMPTY_LIST, then APPEND for one item or APPENDS batches for more. */
  private list(v: unknown[]): void {
    this.out.byte(0x5d);
    if (v.length === 1) {
      this.save(v[0]);
      this.out.byte(0x61);
    } else if (v.length > 1) {
      for (let i = 0; i < v.length; i += BATCH) {
        this.out.byte(0x28);
        for (const x of v.slice(i, i + BATCH)) this.save(x);
        this.out.byte(0x65);
      }
    }
  }
}

class ByteSink {
  private buf = new Uint8Array(1024);
  private n = 0;
  private dv = new DataView(this.buf.buffer);
  private grow(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  byte(...xs: number[]): void {
    this.grow(xs.length);
    for (const x of xs) this.buf[this.n++] = x;
  }
  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  u16(x: number): void {
    this.grow(2);
    this.dv.setUint16(this.n, x, true);
    this.n += 2;
  }
  u32(x: number): void {
    this.grow(4);
    this.dv.setUint32(this.n, x, true);
    this.n += 4;
  }
  i32(x: number): void {
    this.grow(4);
    this.dv.setInt32(this.n, x, true);
    this.n += 4;
  }
  f64be(x: number): void {
    this.grow(8);
    this.dv.setFloat64(this.n, x, false);
    this.n += 8;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}
