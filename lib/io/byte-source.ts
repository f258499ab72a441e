// Random access to a file's bytes, so readers can look at headers (a zip's central directory, a
// safetensors JSON header, a pickle) without holding the file in memory: a 3 GB checkpoint is
// inspected by reading kilobytes. Bytes already in memory are a source too (reads are views).

export interface ByteSource {
  /** the file's length in bytes */
  readonly size: number;
  /** named in errors */
  readonly name: string;
  /** bytes [offset, offset + length), cut short at the end of the file; a view when the source is memory */
  read(offset: number, length: number): Uint8Array;
}

export function isByteSource(x: unknown): x is ByteSource {
  return typeof x === "object" && x !== null && !ArrayBuffer.isView(x) &&
    typeof (x as ByteSource).read === "function" && typeof (x as ByteSource).size === "number";
}

/** Bytes in memory as a source; reads are subarrays (no copy). */
export function memorySource(bytes: Uint8Array, name: string): ByteSource {
  return {
    size: bytes.length,
    name,
    read: (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
  };
}

export function toSource(input: Uint8Array | ByteSource, name: string): ByteSource {
  return isByteSource(input) ? input : memorySource(input, name);
}

export interface FileSource extends ByteSource {
  close(): void;
}

/** An open file read on demand with synchronous positioned reads; reading after close is an error. */
export function openFileSource(path: string): FileSource {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    throw new Error(`vifi: cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
  let size: number;
  try {
    const st = file.statSync();
    if (!st.isFile) throw new Error("not a regular file");
    size = st.size;
  } catch (e) {
    file.close();
    throw new Error(`vifi: cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
  let open = true;
  return {
    size,
    name: path,
    read(offset, length) {
      if (!open) throw new Error(`vifi: ${path}: read after the file was closed`);
      const n = Math.max(0, Math.min(length, size - offset));
      const out = new Uint8Array(n);
      file.seekSync(offset, Deno.SeekMode.Start);
      let at = 0;
      while (at < n) {
        const got = file.readSync(out.subarray(at));
        if (got === null) throw new Error(`vifi: ${path}: the file shrank while being read`);
        at += got;
      }
      return out;
    },
    close() {
      if (open) file.close();
      open = false;
    },
  };
}
