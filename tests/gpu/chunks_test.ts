// Splitting work under maxStorageBufferBindingSize (lib/gpu/chunks.ts): pure functions of the
// adapter's limits, tested on made-up limits.

import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import {
  bindingLimits,
  checkWhole,
  type Chunk,
  elementWindow,
  round4,
  rowChunks,
  splitChunks,
  window,
  windowElements,
} from "../../lib/gpu/chunks.ts";
import type { Runtime } from "../../lib/gpu/runtime.ts";

/** A runtime as far as chunks.ts sees one: its two limits. */
function fakeRt(maxStorageBufferBindingSize: number, minStorageBufferOffsetAlignment: number): Runtime {
  return {
    gpu: { limits: { maxStorageBufferBindingSize, minStorageBufferOffsetAlignment } },
  } as unknown as Runtime;
}

const fakeBuffer = (size: number) => ({ size }) as GPUBuffer;

/** The chunks cover 0..rows once, in order, each aligned and within the limit for every operand. */
function assertValid(rt: Runtime, chunks: Chunk[], rows: number, rowBytes: number[], multiple = 1): void {
  const { limit, align } = bindingLimits(rt);
  let next = 0;
  for (const { first, count } of chunks) {
    assertEquals(first, next, "chunks must be consecutive");
    assert(count > 0, "empty chunk");
    assert(first % multiple === 0, `chunk start ${first} is not a multiple of ${multiple}`);
    for (const b of rowBytes) {
      assert((first * b) % align === 0, `row ${first} of ${b} bytes starts unaligned`);
      assert(round4(count * b) <= limit, `${count} rows of ${b} bytes exceed ${limit}`);
    }
    next = first + count;
  }
  assertEquals(next, rows, "the chunks must cover every row");
}

Deno.test("bindingLimits rounds the binding limit down to 4 bytes; round4 rounds up", () => {
  assertEquals(bindingLimits(fakeRt(1023, 256)), { limit: 1020, align: 256 });
  assertEquals([0, 1, 4, 5].map(round4), [0, 4, 4, 8]);
});

Deno.test("rowChunks: no chunk for no rows, one when everything fits", () => {
  const rt = fakeRt(1024, 256);
  assertEquals(rowChunks(rt, "t", 0, [4]), []);
  assertEquals(rowChunks(rt, "t", 256, [4, 2]), [{ first: 0, count: 256 }]);
  assertEquals(rowChunks(rt, "t", 1e9, [0]), [{ first: 0, count: 1e9 }]);
});

Deno.test("rowChunks splits into aligned chunks within the limit", () => {
  // 12-byte rows on a 256-byte alignment: chunks start at multiples of 64 rows (768 bytes).
  const rt = fakeRt(1024, 256);
  const chunks = rowChunks(rt, "t", 200, [12]);
  assertEquals(chunks, [{ first: 0, count: 64 }, { first: 64, count: 64 }, { first: 128, count: 64 }, {
    first: 192,
    count: 8,
  }]);
  assertValid(rt, chunks, 200, [12]);
  for (
    const [rows, rowBytes, multiple] of [[1000, [4, 8, 2], 1], [777, [6, 12], 3], [5000, [20], 8]] as const
  ) {
    const big = fakeRt(4096, 64);
    assertValid(big, rowChunks(big, "t", rows, [...rowBytes], multiple), rows, [...rowBytes], multiple);
  }
});

Deno.test("rowChunks makes even chunks rather than full ones and a small remainder", () => {
  const rt = fakeRt(400, 4);
  assertEquals(rowChunks(rt, "t", 201, [4]).map((c) => c.count), [67, 67, 67]);
  assertEquals(rowChunks(rt, "t", 201, [4], 10).map((c) => c.count), [70, 70, 61]);
});

Deno.test("rowChunks and checkWhole name the operand when nothing fits", () => {
  // 64 rows of 12 bytes are the smallest aligned piece: 768 bytes, over a 512-byte limit.
  assertThrows(() => rowChunks(fakeRt(512, 256), "op.x", 100, [12]), "op.x: 1200 bytes");
  assertThrows(() => rowChunks(fakeRt(512, 256), "op.x", 100, [12]), "64 rows, needs 768");
  const rt = fakeRt(1024, 256);
  checkWhole(rt, "op.w", 1021); // 1024 bytes once rounded to 4
  assertThrows(() => checkWhole(rt, "op.w", 1025), "op.w: 1025 bytes");
});

Deno.test("window: at least 4 bytes, a multiple of 4, never past the buffer's end", () => {
  const buf = fakeBuffer(100);
  assertEquals(window(buf, 0, 0), { buffer: buf, offset: 0, size: 4 });
  assertEquals(window(buf, 0, 5), { buffer: buf, offset: 0, size: 8 });
  assertEquals(window(buf, 96, 10), { buffer: buf, offset: 96, size: 4 });
  assertEquals(window(buf, 32, 64), { buffer: buf, offset: 32, size: 64 });
});

Deno.test("elementWindow starts at the aligned offset at or below the first element", () => {
  const rt = fakeRt(1024, 256);
  const buf = fakeBuffer(4096);
  const [b, index] = elementWindow(rt, buf, 100, 300, 4);
  assertEquals(b, { buffer: buf, offset: 256, size: 300 * 4 - 256 });
  assertEquals(index, 100 - 64);
  const [b0, i0] = elementWindow(rt, buf, 63, 64, 4);
  assertEquals([b0, i0], [{ buffer: buf, offset: 0, size: 256 }, 63]);
  // Any window of windowElements() elements fits, wherever it starts.
  const most = windowElements(rt, 2);
  assertEquals(most, (1024 - 256) / 2);
  for (let first = 0; first < 2000; first += 37) {
    const [w, at] = elementWindow(rt, buf, first, first + most, 2);
    const { size } = w as { size: number };
    assert(size <= 1024 && at >= 0 && at * 2 < 256, `window at ${first}: ${size} bytes, index ${at}`);
  }
});

Deno.test("splitChunks: pieces of at most step rows covering each chunk in order; step 0 keeps them", () => {
  const chunks = [{ first: 0, count: 10 }, { first: 10, count: 3 }];
  assertEquals([...splitChunks(chunks, 0)], chunks);
  assertEquals([...splitChunks(chunks, 4)], [
    { first: 0, count: 4 },
    { first: 4, count: 4 },
    { first: 8, count: 2 },
    { first: 10, count: 3 },
  ]);
  assertEquals([...splitChunks([{ first: 5, count: 0 }], 4)], []);
});
