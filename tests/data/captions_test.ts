// The pretraining pairs of issue 14: deterministic from the seed, captions that tell the truth about their
// frames and never name a held-out triple whole, every word seen, every base class's full prompt seen, the
// object's colour and motion visible in the pixels, captions inside the text tower's context, and frames
// normalised exactly as the test-time pipeline would give them.

import { assert, assertEquals, assertThrows } from "./assert.ts";
import {
  CAPTION_TEMPLATES,
  captionMatches,
  type CaptionPairs,
  captionPairs,
  describes,
  evalPrompt,
  novelTriples,
  type Triple,
} from "../../lib/data/captions.ts";
import { COLOURS, encodeMp4, generateSynthetic, MOTIONS, SHAPES } from "../../lib/data/synthetic.ts";
import { prepareVideo } from "../../lib/data/prepare.ts";
import { MEAN, STD, testTransform } from "../../lib/video/transforms.ts";
import { ByteTokenizer } from "../../lib/text/tokenizer.ts";
import { clipConfig } from "../../lib/models/config.ts";

const novel = novelTriples(1);
const key = (t: Triple) => `${t.colour}|${t.shape}|${t.motion}`;
const novelKeys = new Set(novel.map(key));

/** The attributes a caption names, read back with the word lists alone. */
function named(caption: string): { colour: string[]; shape: string[]; motion: string[] } {
  const words = caption.toLowerCase().match(/[a-z]+/g) ?? [];
  return {
    colour: words.filter((w) => (COLOURS as readonly string[]).includes(w)),
    shape: words.filter((w) => (SHAPES as readonly string[]).includes(w)),
    motion: words.filter((w) => (MOTIONS as readonly string[]).includes(w)),
  };
}

/** Pixel (x, y) of frame k of pair i as RGB bytes, undoing the normalisation. */
function pixel(p: CaptionPairs, i: number, k: number, x: number, y: number): [number, number, number] {
  const [, t, , s] = p.shape;
  const base = ((i * t + k) * 3) * s * s + y * s + x;
  return [0, 1, 2].map((c) => p.frames[base + c * s * s] * STD[c] + MEAN[c]) as [number, number, number];
}

/** How much of the object's colour a pixel holds: 0 background, 1 object (projection on bg → rgb). */
function alphaAt(p: CaptionPairs, i: number, k: number, x: number, y: number): number {
  const { rgb, bg } = p.scenes[i];
  const v = pixel(p, i, k, x, y);
  let num = 0, den = 0;
  for (let c = 0; c < 3; c++) num += (v[c] - bg[c]) * (rgb[c] - bg[c]), den += (rgb[c] - bg[c]) ** 2;
  return num / den;
}

/** Centroid of the pixels of frame k whose alpha lies in [lo, hi]. */
function centroid(p: CaptionPairs, i: number, k: number, lo: number, hi: number): [number, number, number] {
  const s = p.shape[3];
  let sx = 0, sy = 0, n = 0;
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const a = alphaAt(p, i, k, x, y);
      if (a >= lo && a <= hi) sx += x + 0.5, sy += y + 0.5, n++;
    }
  }
  return [sx / n, sy / n, n];
}

const DIR: Record<string, [number, number]> = { left: [-1, 0], right: [1, 0], up: [0, -1], down: [0, 1] };

Deno.test("captions: same seed, same pairs; another seed, others; a longer run extends a shorter one", () => {
  const a = captionPairs({ seed: 3, count: 24, frames: 2, novel });
  const b = captionPairs({ seed: 3, count: 24, frames: 2, novel });
  const c = captionPairs({ seed: 4, count: 24, frames: 2, novel });
  const short = captionPairs({ seed: 3, count: 8, frames: 2, novel });
  assertEquals(a.shape, [24, 2, 3, 32, 32]);
  assertEquals(a.frames.length, 24 * 2 * 3 * 32 * 32);
  assert(a.frames.every((v, i) => Object.is(v, b.frames[i])), "same seed gave other frames");
  assertEquals(a.captions, b.captions);
  assertEquals(a.facts, b.facts);
  assert(a.captions.join("\n") !== c.captions.join("\n"), "another seed gave the same captions");
  assert(a.frames.some((v, i) => v !== c.frames[i]), "another seed gave the same frames");
  assertEquals(short.captions, a.captions.slice(0, 8));
  assert(short.frames.every((v, i) => v === a.frames[i]), "the first pairs depend on the count");
});

Deno.test("captions: truthful, never a novel triple whole, every word, every base class's prompt", () => {
  const p = captionPairs({ seed: 1, count: 2400, novel });
  const words = new Set<string>(), full = new Set<string>(), prompts = new Set<string>();
  let novelDrawn = 0;
  const drawn = new Set(p.facts.map(key));
  p.captions.forEach((caption, i) => {
    const n = named(caption), f = p.facts[i];
    for (const kind of ["colour", "shape", "motion"] as const) {
      assert(n[kind].length <= 1, `"${caption}" names two of ${kind}`);
      assert(n[kind].every((w) => w === f[kind]), `"${caption}" says ${n[kind]} of a ${f[kind]} pair`);
      n[kind].forEach((w) => words.add(w));
    }
    const isNovel = novelKeys.has(key(f));
    if (isNovel) novelDrawn++;
    if (n.colour.length && n.shape.length && n.motion.length) {
      assert(!isNovel, `"${caption}" names the novel triple ${key(f)}`);
      full.add(key(f));
    }
    if (caption === evalPrompt(f)) prompts.add(key(f));
  });
  assertEquals([...words].sort(), [...COLOURS, ...SHAPES, ...MOTIONS].sort(), "words seen");
  const base = [];
  for (const colour of COLOURS) {
    for (const shape of SHAPES) {
      for (const motion of MOTIONS) {
        if (!novelKeys.has(`${colour}|${shape}|${motion}`)) base.push(`${colour}|${shape}|${motion}`);
      }
    }
  }
  assertEquals(base.length, 24);
  assertEquals([...full].sort(), base.sort(), "base triples fully named");
  assertEquals([...prompts].sort(), base.sort(), "base triples in the evaluation's prompt");
  assertEquals(drawn.size, 48, "triples drawn");
  assert(novelDrawn > 2400 / 4, `novel pictures drawn only ${novelDrawn} times`);
  const strict = captionPairs({ seed: 1, count: 300, novel, novelClips: "never" });
  assert(strict.facts.every((f) => !novelKeys.has(key(f))), "novelClips never drew a novel triple");
  assertThrows(
    () => captionPairs({ seed: 1, count: 1, novel: [{ colour: "pink", shape: "circle", motion: "up" }] }),
    "unknown",
  );
});

Deno.test("captions: novelTriples is the split generateSynthetic writes for the seed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-capt-" });
  try {
    const s = await generateSynthetic(dir, { seed: 7, clipsPerClass: 1, frames: 1, size: 16 });
    const fromData = s.novelClasses.map((id) => key(s.classes[id]));
    assertEquals(novelTriples(7).map(key), fromData);
    assert(novelTriples(8).map(key).join() !== fromData.join(), "the split ignores the seed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("captions: every template with every word fits the synthetic text context", () => {
  const context = clipConfig("synthetic").text.context;
  const tok = new ByteTokenizer();
  for (const ts of Object.values(CAPTION_TEMPLATES)) {
    for (const t of ts) {
      for (const c of COLOURS) {
        for (const s of SHAPES) {
          for (const m of MOTIONS) {
            const caption = t.replace("{c}", c).replace("{s}", s).replace("{m}", m);
            const n = tok.encode(caption).length + 2;
            assert(n <= context, `"${caption}" takes ${n} tokens of ${context}`);
          }
        }
      }
    }
  }
});

Deno.test("captions: the object has the named colour and sits where the scene says", () => {
  const palette: Record<string, number[]> = {
    red: [220, 40, 40],
    green: [40, 200, 60],
    blue: [50, 70, 230],
    yellow: [230, 220, 40],
  };
  const p = captionPairs({ seed: 5, count: 120, novel });
  for (let i = 0; i < p.captions.length; i++) {
    // the triangle (apex at -R, base at +0.8R) has its mass 0.2R below the centre and less room around it
    const sc = p.scenes[i], tri = p.facts[i].shape === "triangle";
    const cx = sc.centres[0][0], cy = sc.centres[0][1] + (tri ? 0.2 * sc.radius : 0);
    const r = sc.radius * (tri ? 0.3 : 0.45);
    const sum = [0, 0, 0];
    let n = 0;
    for (let y = Math.floor(cy - r); y <= cy + r; y++) {
      for (let x = Math.floor(cx - r); x <= cx + r; x++) {
        if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 > r * r) continue;
        pixel(p, i, 0, x, y).forEach((v, c) => sum[c] += v);
        n++;
      }
    }
    const mean = sum.map((v) => v / n);
    const nearest = Object.keys(palette).reduce((a, b) =>
      palette[a].reduce((d, v, c) => d + (v - mean[c]) ** 2, 0) <=
          palette[b].reduce((d, v, c) => d + (v - mean[c]) ** 2, 0)
        ? a
        : b
    );
    assertEquals(nearest, p.facts[i].colour, `pair ${i} "${p.captions[i]}" mean ${mean.map(Math.round)}`);
    const [mx, my] = centroid(p, i, 0, 0.8, 2);
    assert(Math.hypot(mx - cx, my - cy) < 1, `pair ${i}: object at ${mx},${my}, scene says ${cx},${cy}`);
  }
});

Deno.test("captions: strips move the named way; a still frame's trail lies behind the object", () => {
  const strips = captionPairs({ seed: 6, count: 80, frames: 3, novel });
  for (let i = 0; i < strips.captions.length; i++) {
    const [dx, dy] = DIR[strips.facts[i].motion];
    const [x0, y0] = centroid(strips, i, 0, 0.8, 2), [x2, y2] = centroid(strips, i, 2, 0.8, 2);
    const along = (x2 - x0) * dx + (y2 - y0) * dy, across = Math.abs((x2 - x0) * dy - (y2 - y0) * dx);
    assert(
      along > 1.5 && along > 3 * across,
      `strip ${i} moving ${strips.facts[i].motion}: ${x2 - x0},${y2 - y0}`,
    );
  }
  const stills = captionPairs({ seed: 7, count: 80, novel });
  for (let i = 0; i < stills.captions.length; i++) {
    const [dx, dy] = DIR[stills.facts[i].motion];
    const [ox, oy] = centroid(stills, i, 0, 0.8, 2), [tx, ty, n] = centroid(stills, i, 0, 0.12, 0.65);
    const behind = -((tx - ox) * dx + (ty - oy) * dy);
    assert(n > 0 && behind > 1, `still ${i} moving ${stills.facts[i].motion}: trail ${behind} px behind`);
  }
});

Deno.test("captions: frames normalised as the test-time pipeline gives them", async () => {
  const p = captionPairs({ seed: 8, count: 4, frames: 2, novel, keepRgb: true });
  const per = 2 * 3 * 32 * 32, side = 64;
  for (let i = 0; i < 4; i++) {
    const rgb = p.rgb![i], n = side * side * 3;
    const frames = [0, 1].map((k) => ({ width: side, height: side, data: rgb.subarray(k * n, (k + 1) * n) }));
    const want = testTransform(frames, { size: 32 }).data;
    const got = p.frames.subarray(i * per, (i + 1) * per);
    assert(want.every((v, j) => Object.is(v, got[j])), `pair ${i} differs from testTransform`);
  }
  // the whole path, through an MP4: equal up to the codec's loss, and far from another pair
  const rgba = [0, 1].map((k) => {
    const out = new Uint8Array(side * side * 4).fill(255);
    for (let j = 0; j < side * side; j++) {
      out.set(p.rgb![0].subarray((k * side * side + j) * 3, (k * side * side + j) * 3 + 3), j * 4);
    }
    return out;
  });
  const mp4 = await encodeMp4(rgba, side, side, 8, { qp: 10 });
  const video = await prepareVideo({ path: "pair0.mp4", mode: "test", frames: 2, size: 32, seed: 0 }, mp4);
  assertEquals(video.shape, [2, 3, 32, 32]);
  const mad = (j: number) => video.data.reduce((s, v, k) => s + Math.abs(v - p.frames[j * per + k]), 0) / per;
  assert(mad(0) < 0.08, `decoded pair differs by ${mad(0)} on average`);
  assert(mad(1) > 4 * mad(0), `another pair is as close (${mad(1)} vs ${mad(0)})`);
});

Deno.test("captionMatches: caption j is a positive of picture i exactly when every attribute it names is true of i", () => {
  const pairs = captionPairs({ seed: 11, count: 40, novel });
  const B = pairs.facts.length;
  const m = captionMatches(pairs);
  // each caption's named attributes, read back from its words rather than from `named`
  const said = pairs.captions.map((c) => ({
    colour: COLOURS.find((w) => c.split(/[ ,.]/).includes(w)),
    shape: SHAPES.find((w) => c.split(/[ ,.]/).includes(w)),
    motion: MOTIONS.find((w) => c.split(/[ ,.]/).includes(w)),
  }));
  let offDiagonal = 0;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      const s = said[j], f = pairs.facts[i];
      const want = (!s.colour || s.colour === f.colour) && (!s.shape || s.shape === f.shape) &&
        (!s.motion || s.motion === f.motion);
      assertEquals(
        m[i * B + j],
        want ? 1 : 0,
        `picture ${i} ${JSON.stringify(f)}, caption ${pairs.captions[j]}`,
      );
      if (i !== j && want) offDiagonal++;
    }
    assertEquals(m[i * B + i], 1, `caption ${i} describes its own picture`);
  }
  assert(offDiagonal > B, `only ${offDiagonal} shared positives in ${B} pairs: the test shows nothing`);
  // named: "c" of a red picture is true of every red one, and "csm" only of the same triple
  const red = { colour: "red", shape: "circle", motion: "up" };
  assert(describes("c", red, { colour: "red", shape: "square", motion: "left" }), "colour alone");
  assert(!describes("csm", red, { colour: "red", shape: "circle", motion: "down" }), "all three");
  assert(describes("sm", red, { colour: "blue", shape: "circle", motion: "up" }), "shape and motion");
});
