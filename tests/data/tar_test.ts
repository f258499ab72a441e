import { readTarIndex, tarEntry } from "../../lib/data/tar.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";

const enc = new TextEncoder();

/** One 512-byte header; `name` may be up to 100 bytes, `prefix` up to 155. */
function header(name: string, size: number, type = "0", prefix = ""): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, at: number) => h.set(enc.encode(s), at);
  put(name, 0);
  put("0000644\0", 100);
  put("0000000\0", 108);
  put("0000000\0", 116);
  put(size.toString(8).padStart(11, "0") + "\0", 124);
  put("00000000000\0", 136);
  put(type, 156);
  put("ustar\0", 257);
  put("00", 263);
  put(prefix, 345);
  h.fill(32, 148, 156);
  const sum = h.reduce((a, b) => a + b, 0);
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

function member(hdr: Uint8Array, data: Uint8Array): Uint8Array[] {
  const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
  padded.set(data);
  return [hdr, padded];
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.length;
  return out;
}

Deno.test("tar index: ustar, prefix field, GNU long name, directories skipped", () => {
  const long = "videos/" + "x".repeat(120) + "/clip_long_name.mp4";
  const a = enc.encode("hello");
  const b = new Uint8Array(1000).map((_, i) => i & 255);
  const c = enc.encode("long");
  const tar = concat([
    header("videos/", 0, "5"),
    ...member(header("videos/a.mp4", a.length), a),
    ...member(header("b.avi", b.length, "0", "deep/dir"), b),
    ...member(header("././@LongLink", long.length + 1, "L"), enc.encode(long + "\0")),
    ...member(header(long.slice(0, 100), c.length), c),
    new Uint8Array(1024),
  ]);
  const idx = readTarIndex(tar, "t.tar");
  assertEquals(idx.entries.map((e) => e.name), ["videos/a.mp4", "deep/dir/b.avi", long]);
  assertEquals(idx.entries.map((e) => e.size), [5, 1000, 4]);
  assertEquals([...tarEntry(tar, idx, "videos/a.mp4")], [...a]);
  assertEquals([...tarEntry(tar, idx, "b.avi")], [...b]); // by base name
  assertEquals(new TextDecoder().decode(tarEntry(tar, idx, "clip_long_name.mp4")), "long");
  assertThrows(() => tarEntry(tar, idx, "nope.mp4"), "nope.mp4");
});

Deno.test("tar index: bad checksum and truncation are errors naming the file", () => {
  const good = concat([...member(header("a", 600), new Uint8Array(600)), new Uint8Array(1024)]);
  const bad = good.slice();
  bad[0] ^= 1;
  assertThrows(() => readTarIndex(bad, "bad.tar"), "bad.tar: header checksum");
  assertThrows(
    () => readTarIndex(good.subarray(0, 700), "cut.tar"),
    "cut.tar: member at byte 0 is truncated",
  );
});

Deno.test("tar index: archive written by the system tar (GNU long names, pax)", async () => {
  const ok = await new Deno.Command("tar", { args: ["--version"], stdout: "null", stderr: "null" }).output()
    .then((o) => o.success).catch(() => false);
  if (!ok) {
    console.log("skipped: no tar binary");
    return;
  }
  const dir = await Deno.makeTempDir();
  try {
    const deep = `d/${"y".repeat(150)}`;
    await Deno.mkdir(`${dir}/${deep}`, { recursive: true });
    const files: Record<string, Uint8Array> = {
      "v_Apply_g01_c01.avi": new Uint8Array(513).fill(7),
      [`${deep}/${"z".repeat(90)}.mp4`]: enc.encode("deep file"),
      "empty.webm": new Uint8Array(0),
    };
    for (const [p, d] of Object.entries(files)) await Deno.writeFile(`${dir}/${p}`, d);
    for (const format of ["gnu", "pax", "ustar"]) {
      const names = format === "ustar" ? ["v_Apply_g01_c01.avi", "empty.webm"] : Object.keys(files);
      const out = await new Deno.Command("tar", {
        args: [`--format=${format}`, "-cf", `${dir}/out.tar`, "-C", dir, ...names],
        stderr: "piped",
      }).output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      const bytes = await Deno.readFile(`${dir}/out.tar`);
      const idx = readTarIndex(bytes, "out.tar");
      for (const n of names) assertEquals([...tarEntry(bytes, idx, n)], [...files[n]], `${format} ${n}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
