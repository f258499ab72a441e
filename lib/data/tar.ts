// Just enough of the tar format to find a member's bytes without extracting the archive: ustar headers
// (with the prefix field), GNU `L` long names and pax `path` records. Data is never copied.

export interface TarEntry {
  name: string;
  /** byte offset of the member's data in the archive */
  offset: number;
  size: number;
}

export interface TarIndex {
  entries: TarEntry[];
  byName: Map<string, TarEntry>;
  /** by base name, the key upstream's tar mode looks videos up with; later members win like tarfile */
  byBase: Map<string, TarEntry>;
}

const dec = new TextDecoder();

function cString(b: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return dec.decode(b.subarray(start, end));
}

function octal(b: Uint8Array, start: number, len: number, fileName: string, at: number): number {
  // GNU base-256 for members >= 8 GiB: high bit of the first byte set.
  if (b[start] & 0x80) {
    let v = b[start] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[start + i];
    return v;
  }
  const s = cString(b, start, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) {
    throw new Error(`${fileName}: bad octal field ${JSON.stringify(s)} in header at ${at}`);
  }
  return parseInt(s, 8);
}

function paxPath(b: Uint8Array): string | undefined {
  const text = dec.decode(b);
  let i = 0;
  let path: string | undefined;
  while (i < text.length) {
    const sp = text.indexOf(" ", i);
    if (sp < 0) break;
    const len = Number(text.slice(i, sp));
    if (!(len > 0)) break;
    const rec = text.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf("=");
    if (rec.slice(0, eq) === "path") path = rec.slice(eq + 1);
    i += len;
  }
  return path;
}

export function readTarIndex(bytes: Uint8Array, fileName: string): TarIndex {
  const entries: TarEntry[] = [];
  let pos = 0;
  let longName: string | undefined;
  while (pos + 512 <= bytes.length) {
    const h = bytes.subarray(pos, pos + 512);
    if (h.every((v) => v === 0)) break; // end-of-archive marker
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    const stored = octal(h, 148, 8, fileName, pos);
    if (stored !== sum) throw new Error(`${fileName}: header checksum mismatch at byte ${pos}`);
    const size = octal(h, 124, 12, fileName, pos);
    const type = String.fromCharCode(h[156] || 0x30);
    const dataAt = pos + 512;
    if (dataAt + size > bytes.length) throw new Error(`${fileName}: member at byte ${pos} is truncated`);
    const next = dataAt + Math.ceil(size / 512) * 512;
    if (type === "L") {
      longName = cString(bytes, dataAt, size);
    } else if (type === "x") {
      longName = paxPath(bytes.subarray(dataAt, dataAt + size)) ?? longName;
    } else if (type === "g") {
      // global pax header: nothing we need
    } else {
      let name = cString(h, 0, 100);
      const magic = cString(h, 257, 6);
      if (magic.startsWith("ustar")) {
        const prefix = cString(h, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      if (longName !== undefined) name = longName;
      longName = undefined;
      if (type === "0" || type === "\0" || type === "7") entries.push({ name, offset: dataAt, size });
    }
    pos = next;
  }
  const byName = new Map<string, TarEntry>();
  const byBase = new Map<string, TarEntry>();
  for (const e of entries) {
    byName.set(e.name, e);
    byBase.set(e.name.slice(e.name.lastIndexOf("/") + 1), e);
  }
  return { entries, byName, byBase };
}

/** A member's bytes (a view into `bytes`), by full name or, failing that, by base name. */
export function tarEntry(bytes: Uint8Array, index: TarIndex, name: string): Uint8Array {
  const e = index.byName.get(name) ?? index.byBase.get(name);
  if (!e) throw new Error(`tar: no member named ${name}`);
  return bytes.subarray(e.offset, e.offset + e.size);
}
