import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  blendValue,
  crop,
  drawJitter,
  drawTrainDecisions,
  flipHorizontal,
  type Frame,
  grayscale,
  luma,
  MEAN,
  multiScaleCandidates,
  multiScaleOffsets,
  normalizeInto,
  resizeBilinear,
  resizeBilinearWindow,
  resizeShortSide,
  shortSideSize,
  STD,
  testTransform,
  threeCropOffsets,
  trainTransform,
} from "../../lib/video/transforms.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import { assert, assertEquals, assertThrows } from "../data/assert.ts";

const seed = sessionSeed();
console.log(`transforms tests seed ${seed} (VIFI_SEED=${seed} to replay)`);

function randomFrame(w: number, h: number, rng: Rng, smooth = false): Frame {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        // smooth content is what video frames mostly are; noise stresses the rounding
        data[(y * w + x) * 3 + c] = smooth
          ? Math.round(127.5 + 127.5 * Math.sin(x / (7 + c) + y / 11) * Math.cos(y / (5 + c)))
          : rng.int(256);
      }
    }
  }
  return { width: w, height: h, data };
}

/** OpenCV's INTER_LINEAR sampling geometry evaluated in float64 with a final round to nearest. */
function floatResize(src: Frame, dw: number, dh: number): Uint8Array {
  const { width: sw, height: sh, data } = src;
  const coord = (d: number, s: number, n: number): [number, number, number] => {
    const f = (d + 0.5) * (s / n) - 0.5;
    let i = Math.floor(f), t = f - i;
    if (i < 0) i = 0, t = 0;
    if (i >= s - 1) i = s - 1, t = 0;
    return [i, Math.min(i + 1, s - 1), t];
  };
  const out = new Uint8Array(dw * dh * 3);
  for (let y = 0; y < dh; y++) {
    const [y0, y1, ty] = coord(y, sh, dh);
    for (let x = 0; x < dw; x++) {
      const [x0, x1, tx] = coord(x, sw, dw);
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => data[(yy * sw + xx) * 3 + c];
        const v = (1 - ty) * ((1 - tx) * p(y0, x0) + tx * p(y0, x1)) +
          ty * ((1 - tx) * p(y1, x0) + tx * p(y1, x1));
        out[(y * dw + x) * 3 + c] = Math.round(v);
      }
    }
  }
  return out;
}

Deno.test("resize: hand-computed fixed-point values", () => {
  // 2x1 → 4x1, one channel set to [0, 255]: weights (1, 0), (.75, .25), (.25, .75), (0, 1)
  const src: Frame = { width: 2, height: 1, data: new Uint8Array([0, 0, 0, 255, 255, 255]) };
  const out = resizeBilinear(src, 4, 1);
  // dx=1: H = 255·512 = 130560; ((130560>>4)·2048 >> 16) + 2 >> 2 = 64 (float: 63.75)
  // dx=2: H = 255·1536 = 391680; ((391680>>4)·2048 >> 16) + 2 >> 2 = 191 (float: 191.25)
  assertEquals([...out.data], [0, 0, 0, 64, 64, 64, 191, 191, 191, 255, 255, 255]);
});

Deno.test("resize: same size copies, exact 2x downscale is INTER_AREA", () => {
  const rng = new Rng(seed);
  const f = randomFrame(6, 4, rng);
  assertEquals([...resizeBilinear(f, 6, 4).data], [...f.data]);
  const half = resizeBilinear(f, 3, 2);
  for (let y = 0; y < 2; y++) {
    for (let x = 0; x < 3; x++) {
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => f.data[(yy * 6 + xx) * 3 + c];
        const want =
          (p(2 * y, 2 * x) + p(2 * y, 2 * x + 1) + p(2 * y + 1, 2 * x) + p(2 * y + 1, 2 * x + 1) + 2) >> 2;
        assertEquals(half.data[(y * 3 + x) * 3 + c], want);
      }
    }
  }
});

Deno.test("resize: within 1 of a float64 bilinear with OpenCV's geometry", () => {
  const rng = new Rng(seed);
  const cases: [number, number, number, number][] = [
    [320, 240, 341, 256], // short side 256
    [256, 192, 224, 224], // MultiScaleCrop candidates → 224
    [168, 168, 224, 224],
    [192, 256, 224, 224],
    [341, 256, 299, 224],
    [640, 360, 455, 256],
    [17, 13, 40, 29],
    [100, 80, 33, 21],
  ];
  for (const smooth of [true, false]) {
    for (const [sw, sh, dw, dh] of cases) {
      const f = randomFrame(sw, sh, rng, smooth);
      const got = resizeBilinear(f, dw, dh).data;
      const ref = floatResize(f, dw, dh);
      let max = 0, off = 0;
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i] - ref[i]);
        max = Math.max(max, d);
        if (d) off++;
      }
      console.log(
        `${smooth ? "smooth" : "noise "} ${sw}x${sh} -> ${dw}x${dh}: max |fixed - float| ${max}, ` +
          `${(100 * off / got.length).toFixed(2)}% differ`,
      );
      assert(max <= 1, `${sw}x${sh} -> ${dw}x${dh}: max diff ${max}`);
    }
  }
});

Deno.test("short side and MultiScaleCrop geometry", () => {
  assertEquals(shortSideSize(320, 240, 256), [341, 256]);
  assertEquals(shortSideSize(240, 320, 256), [256, 341]);
  assertEquals(shortSideSize(1920, 1080, 256), [455, 256]);
  assertEquals(shortSideSize(340, 256, 256), [340, 256]);
  assertEquals(multiScaleCandidates(341, 256), [
    [256, 256],
    [224, 256],
    [256, 224],
    [224, 224],
    [192, 224],
    [224, 192],
    [192, 192],
    [168, 192],
    [192, 168],
    [168, 168],
  ]);
  // base 240: 240, 210, 180, ⌊158.4⌋; nothing within 3 px of 224
  assertEquals(multiScaleCandidates(320, 240).slice(0, 3), [[240, 240], [210, 240], [240, 210]]);
  // base 226: 226 snaps to 224 (|226−224| < 3), 197.75 → 197
  assertEquals(multiScaleCandidates(300, 226).slice(0, 2), [[224, 224], [197, 224]]);
  assertEquals(multiScaleOffsets(341, 256, 224, 224), [[0, 0], [116, 0], [0, 32], [116, 32], [58, 16]]);
  assertEquals(multiScaleOffsets(341, 256, 168, 192), [[0, 0], [172, 0], [0, 64], [172, 64], [86, 32]]);
  assertEquals(threeCropOffsets(300, 224, 224), [[0, 0], [76, 0], [38, 0]]);
  assertEquals(threeCropOffsets(224, 399, 224), [[0, 0], [0, 174], [0, 87]]);
  assertThrows(() => threeCropOffsets(300, 250, 224), "threeCrop");
});

Deno.test("flip, crop and grayscale are exact", () => {
  const rng = new Rng(seed);
  const f = randomFrame(5, 3, rng);
  const fl = flipHorizontal(f);
  for (let y = 0; y < 3; y++) {
    for (let x = 0; x < 5; x++) {
      for (let c = 0; c < 3; c++) assertEquals(fl.data[(y * 5 + x) * 3 + c], f.data[(y * 5 + 4 - x) * 3 + c]);
    }
  }
  const cr = crop(f, 1, 1, 3, 2);
  assertEquals([...cr.data.subarray(0, 3)], [...f.data.subarray((5 + 1) * 3, (5 + 1) * 3 + 3)]);
  assertThrows(() => crop(f, 3, 0, 3, 1), "outside");
  // PIL's L for pure primaries and white
  assertEquals([luma(255, 0, 0), luma(0, 255, 0), luma(0, 0, 255), luma(255, 255, 255), luma(0, 0, 0)], [
    76,
    150,
    29,
    255,
    0,
  ]);
  const g = grayscale({ width: 2, height: 1, data: new Uint8Array([255, 0, 0, 10, 20, 30]) });
  // 10·19595 + 20·38470 + 30·7471 = 1,189,480 (+32768) >> 16 = 18
  assertEquals([...g.data], [76, 76, 76, 18, 18, 18]);
});

Deno.test("colour jitter: Pillow blend semantics", () => {
  assertEquals(blendValue(0, 255, Math.fround(0.5)), 127); // 127.5 truncated
  assertEquals(blendValue(0, 250, Math.fround(1.2)), 255); // extrapolation clips
  assertEquals(blendValue(100, 0, Math.fround(1.4)), 0);
  assertEquals(blendValue(100, 200, Math.fround(0.6)), 160);
  const f: Frame = { width: 2, height: 1, data: new Uint8Array([200, 100, 0, 0, 0, 0]) };
  assertEquals([...adjustBrightness(f, 0.5).data], [100, 50, 0, 0, 0, 0]);
  // L(200,100,0) = 7,798,768 >> 16 = 118; mean luma 59 → int(59 + .5) = 59
  assertEquals([...adjustContrast(f, 0).data], [59, 59, 59, 59, 59, 59]);
  assertEquals([...adjustSaturation(f, 0).data], [118, 118, 118, 0, 0, 0]);
  assertEquals([...adjustSaturation(f, 1).data], [...f.data]);
  // hue: red shifted by +1/3 turn is green; grey is untouched; −1/3 lands on uint8 hue 171
  const red: Frame = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 90, 90, 90]) };
  assertEquals([...adjustHue(red, 1 / 3).data], [0, 255, 0, 90, 90, 90]);
  assertEquals([...adjustHue(red, -1 / 3).data], [6, 0, 255, 90, 90, 90]);
  assertThrows(() => adjustHue(red, 0.6), "hue factor");
});

Deno.test("normalisation: float32 x − mean, times float64 1/std, (T, 3, H, W)", () => {
  const f: Frame = { width: 2, height: 1, data: new Uint8Array([0, 128, 255, 255, 0, 7]) };
  const out = new Float32Array(2 * 3 * 2);
  normalizeInto(f, out, 1);
  const want = (v: number, c: number) => Math.fround(Math.fround(v - Math.fround(MEAN[c])) * (1 / STD[c]));
  assertEquals([...out.subarray(6)], [
    want(0, 0),
    want(255, 0),
    want(128, 1),
    want(0, 1),
    want(255, 2),
    want(7, 2),
  ]);
  assert(Math.abs(out[6] - -2.117904) < 1e-5 && Math.abs(out[7] - 2.248908) < 1e-5, `${out[6]} ${out[7]}`);
  assertEquals([...out.subarray(0, 6)], [0, 0, 0, 0, 0, 0]);
});

/** Frame whose red channel encodes x and green encodes y, so crops can be located. */
function coordFrame(w: number, h: number, t: number): Frame {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set([x & 255, y & 255, t], (y * w + x) * 3);
  }
  return { width: w, height: h, data };
}

const denorm = (v: number, c: number) => Math.round(v * STD[c] + MEAN[c]);

Deno.test("test transform: centre crop and 3-crop order (crop-major)", () => {
  const frames = [0, 1].map((t) => coordFrame(300, 224, t));
  const three = testTransform(frames, { crops: 3 });
  assertEquals(three.shape, [6, 3, 224, 224]);
  const hw = 224 * 224;
  // crop c, frame t → slot c·2 + t; offsets 0, 76, 38 along x
  [0, 76, 38].forEach((x0, c) => {
    for (const t of [0, 1]) {
      const base = (c * 2 + t) * 3 * hw;
      assertEquals(denorm(three.data[base], 0), x0, `crop ${c} x`);
      assertEquals(denorm(three.data[base + 2 * hw], 2), t, `crop ${c} frame`);
    }
  });
  // one crop: short side 256 (300x224 → 343x256, scaled coordinates), centre (59, 16)
  const one = testTransform([coordFrame(256, 300, 0)], { crops: 1 });
  assertEquals(one.shape, [1, 3, 224, 224]);
  assertEquals([denorm(one.data[0], 0), denorm(one.data[hw], 1)], [16, 38]);
  // other crop counts behave as 1
  assertEquals(testTransform([coordFrame(256, 300, 0)], { crops: 5 }).shape, [1, 3, 224, 224]);
});

Deno.test("train transform: decisions, determinism, and speed at 320x240", () => {
  const rng = new Rng(seed);
  const frames = Array.from({ length: 8 }, () => randomFrame(320, 240, rng, true));
  const a = trainTransform(frames, new Rng(seed));
  const b = trainTransform(frames, new Rng(seed));
  assertEquals(a.shape, [8, 3, 224, 224]);
  assert(a.data.every((v, i) => v === b.data[i]), "same seed, same tensor");
  const { w, h, x, y } = a.decisions.crop;
  assert(multiScaleCandidates(341, 256).some(([cw, ch]) => cw === w && ch === h), `crop size ${w}x${h}`);
  assert(multiScaleOffsets(341, 256, w, h).some(([ox, oy]) => ox === x && oy === y), `offset ${x},${y}`);
  // with jitter and grey off, frame t equals the deterministic chain
  const plain = trainTransform(frames, new Rng(seed), { colorJitterP: 0, grayP: 0, flipP: 0 });
  const d = plain.decisions.crop;
  const f0 = resizeBilinear(crop(resizeBilinear(frames[3], 341, 256), d.x, d.y, d.w, d.h), 224, 224);
  const ref = new Float32Array(3 * 224 * 224);
  normalizeInto(f0, ref, 0);
  assert(ref.every((v, i) => v === plain.data[3 * 3 * 224 * 224 + i]), "pipeline composition");
  // grey: the three channels of every pixel denormalise to the same value
  const grey = trainTransform(frames, new Rng(seed), { grayP: 1 });
  const hw = 224 * 224;
  for (let i = 0; i < hw; i += 997) {
    assertEquals(denorm(grey.data[i], 0), denorm(grey.data[hw + i], 1));
    assertEquals(denorm(grey.data[i], 0), denorm(grey.data[2 * hw + i], 2));
  }
  // speed, one core: the full train pipeline with jitter on every frame
  const n = 32;
  const many = Array.from({ length: n }, (_, i) => frames[i % frames.length]);
  const t0 = performance.now();
  trainTransform(many, new Rng(seed), { colorJitterP: 1, grayP: 0 });
  const t1 = performance.now();
  trainTransform(many, new Rng(seed), { colorJitterP: 0, grayP: 0 });
  const t2 = performance.now();
  console.log(
    `train pipeline 320x240 -> 224x224: ${(n / ((t1 - t0) / 1000)).toFixed(0)} frames/s with jitter, ` +
      `${(n / ((t2 - t1) / 1000)).toFixed(0)} frames/s without`,
  );
});

Deno.test("train crop kinds: multi-scale may stretch, square keeps the aspect, centre is the test crop", () => {
  const rng = new Rng(seed);
  const frames = Array.from({ length: 2 }, () => randomFrame(320, 240, rng, true));
  const sizes = (crop: "multi-scale" | "square") => {
    const seen = new Set<string>();
    for (let s = 0; s < 400; s++) {
      const { w, h } = drawTrainDecisions(320, 240, new Rng(s), { crop }).crop;
      seen.add(`${w}x${h}`);
    }
    return seen;
  };
  const multi = sizes("multi-scale"), square = sizes("square");
  assert([...multi].some((k) => k.split("x")[0] !== k.split("x")[1]), `no non-square crop in ${[...multi]}`);
  assertEquals([...square].sort(), ["168x168", "192x192", "224x224", "256x256"].sort());
  // centre: the test pipeline's crop window, whatever the stream, and the same pixels when nothing else is on
  const c = drawTrainDecisions(320, 240, new Rng(3), { crop: "centre" }).crop;
  assertEquals(c, { x: Math.floor((341 - 224) / 2), y: 16, w: 224, h: 224 });
  const train = trainTransform(frames, new Rng(3), { crop: "centre", colorJitterP: 0, grayP: 0, flipP: 0 });
  const test = testTransform(frames);
  assert(train.data.every((v, i) => v === test.data[i]), "centre crop equals the test transform");
});

Deno.test("windowed resize equals the full resize then crop", () => {
  const rng = new Rng(seed);
  const pick = (n: number) => 1 + rng.int(n);
  let cases = 0;
  for (let k = 0; k < 400; k++) {
    const sw = k < 40 ? pick(3) : pick(70), sh = k < 40 ? pick(3) : pick(70);
    // exact 2x (INTER_AREA for the whole frame, so for any window of it), same size (copy), any other
    const mode = rng.int(4);
    const [dw, dh] = mode === 0 ? [Math.max(1, sw >> 1), Math.max(1, sh >> 1)] : mode === 1 ? [sw, sh] : [
      pick(100),
      pick(100),
    ];
    const src = randomFrame(sw, sh, rng, rng.next() < 0.5);
    const full = resizeBilinear(src, dw, dh);
    // windows at the corners and edges (touching the borders), the whole frame, and anywhere
    const w = rng.next() < 0.2 ? dw : pick(dw), h = rng.next() < 0.2 ? dh : pick(dh);
    for (
      const [x, y] of [[0, 0], [dw - w, dh - h], [0, dh - h], [dw - w, 0], [
        rng.int(dw - w + 1),
        rng.int(dh - h + 1),
      ]]
    ) {
      const got = resizeBilinearWindow(src, dw, dh, x, y, w, h);
      const want = crop(full, x, y, w, h);
      assertEquals([got.width, got.height], [w, h]);
      assert(
        got.data.every((v, i) => v === want.data[i]),
        `${sw}x${sh} -> ${dw}x${dh}, window ${w}x${h}+${x}+${y}`,
      );
      cases++;
    }
  }
  assertThrows(() => resizeBilinearWindow(randomFrame(4, 4, rng), 8, 8, 5, 0, 4, 4), "outside");
  console.log(`${cases} windows`);
});

/** Pillow's Convert.c rgb2hsv → uint8 hue shift → hsv2rgb for one pixel, evaluated directly. */
function hueReference(r: number, g: number, b: number, shift: number): [number, number, number] {
  const maxc = Math.max(r, g, b), minc = Math.min(r, g, b);
  if (maxc === minc) return [maxc, maxc, maxc];
  const cr = maxc - minc, f32 = Math.fround;
  let h: number;
  if (r === maxc) h = f32(f32((maxc - b) / cr) - f32((maxc - g) / cr));
  else if (g === maxc) h = f32(2.0 + f32((maxc - r) / cr) - f32((maxc - b) / cr));
  else h = f32(4.0 + f32((maxc - g) / cr) - f32((maxc - r) / cr));
  h = f32((h / 6.0 + 1.0) % 1.0);
  const clip = (v: number) => Math.min(255, Math.max(0, v));
  const uh = (clip(Math.trunc(h * 255.0)) + shift) & 255, us = clip(Math.trunc(f32(cr / maxc) * 255.0));
  if (us === 0) return [maxc, maxc, maxc];
  const i = Math.floor(uh * 6.0 / 255.0), f = f32(uh * 6.0 / 255.0 - i), s = f32(us / 255.0);
  const round = (x: number) => clip(x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5));
  const v = maxc,
    p = round(v * (1.0 - s)),
    q = round(v * (1.0 - s * f)),
    t = round(v * (1.0 - s * (1.0 - f)));
  return ([[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]] as const)[i % 6].slice() as [
    number,
    number,
    number,
  ];
}

/** Colours on a grid through the whole cube (extremes and near-greys included) plus random ones. */
function colourSweep(rng: Rng): Frame {
  const levels = [...Array.from({ length: 52 }, (_, i) => 5 * i), 1, 2, 254, 128, 127];
  const px: number[] = [];
  for (const r of levels) for (const g of levels) for (const b of levels) px.push(r, g, b);
  for (let i = 0; i < 3 * 60000; i++) px.push(rng.int(256));
  return { width: px.length / 3, height: 1, data: Uint8Array.from(px) };
}

Deno.test("hue and saturation kernels equal Pillow's per-pixel formulas across the colour cube", () => {
  const rng = new Rng(seed);
  const f = colourSweep(rng);
  const n = f.width;
  for (const factor of [0.1, -0.1, 0.5, -0.5, 0.0371, -0.0029, rng.uniform(-0.5, 0.5)]) {
    const got = adjustHue(f, factor).data;
    const shift = ((Math.trunc(factor * 255) % 256) + 256) % 256;
    for (let i = 0; i < n; i++) {
      const [r, g, b] = hueReference(f.data[3 * i], f.data[3 * i + 1], f.data[3 * i + 2], shift);
      if (got[3 * i] !== r || got[3 * i + 1] !== g || got[3 * i + 2] !== b) {
        throw new Error(
          `hue ${factor} of ${f.data.subarray(3 * i, 3 * i + 3)}: ${got.subarray(3 * i, 3 * i + 3)}`,
        );
      }
    }
  }
  for (const factor of [0, 0.83, 1, 1.19, -0.4, 2.6, rng.uniform(0.8, 1.2)]) {
    const got = adjustSaturation(f, factor).data, a = Math.fround(factor);
    for (let i = 0; i < 3 * n; i += 3) {
      const l = luma(f.data[i], f.data[i + 1], f.data[i + 2]);
      for (let c = 0; c < 3; c++) {
        if (got[i + c] !== blendValue(l, f.data[i + c], a)) {
          throw new Error(`saturation ${factor} of ${f.data.subarray(i, i + 3)}: ${got.subarray(i, i + 3)}`);
        }
      }
    }
  }
});

type ColourOp = (f: Frame, factor: number) => Frame;

/** trainTransform spelled out with the exported per-op functions, drawing from rng in the same order. */
function trainReference(frames: Frame[], rng: Rng, opts: Parameters<typeof trainTransform>[2] = {}) {
  // the draws are shared with trainTransform; the pixels below are computed op by op
  const { size, resized: [rw, rh], crop: c, flip, jitter, gray } = drawTrainDecisions(
    frames[0].width,
    frames[0].height,
    rng,
    opts,
  );
  const [cx, cy, cw, ch] = [c.x, c.y, c.w, c.h];
  const out = new Float32Array(frames.length * 3 * size * size);
  const ops: ColourOp[] = [adjustBrightness, adjustContrast, adjustSaturation, adjustHue];
  frames.forEach((f0, t) => {
    let f = resizeBilinear(crop(resizeBilinear(f0, rw, rh), cx, cy, cw, ch), size, size);
    if (flip) f = flipHorizontal(f);
    if (jitter) {
      const p = drawJitter(rng);
      for (const k of p.order) f = ops[k](f, [p.brightness, p.contrast, p.saturation, p.hue][k]);
    }
    if (gray) f = grayscale(f);
    normalizeInto(f, out, t);
  });
  return out;
}

Deno.test("train and test pipelines equal the op-by-op chain", () => {
  const rng = new Rng(seed);
  const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);
  // 682x512 → 341x256 is an exact 2x (INTER_AREA), 341x256 a plain copy, 256x341 portrait
  const sizes = [[320, 240], [682, 512], [341, 256], [256, 341], [97, 61], [40, 30]];
  for (let k = 0; k < 36; k++) {
    const [w, h] = sizes[k % sizes.length];
    const frames = Array.from({ length: 2 }, () => randomFrame(w, h, rng, rng.next() < 0.7));
    const small = w < 100;
    const opts = {
      size: small ? 16 + rng.int(9) : 224,
      flipP: rng.next(),
      colorJitterP: k % 4 === 0 ? 0 : rng.next() < 0.9 ? 1 : 0.5,
      grayP: rng.next() < 0.3 ? 1 : 0,
    };
    const s = rng.int(2 ** 31);
    const got = trainTransform(frames, new Rng(s), opts);
    assert(
      same(got.data, trainReference(frames, new Rng(s), opts)),
      `train ${w}x${h} ${JSON.stringify(opts)} seed ${s}`,
    );
    const size = opts.size;
    const one = new Float32Array(2 * 3 * size * size), three = new Float32Array(3 * 2 * 3 * size * size);
    frames.forEach((f0, t) => {
      const r = resizeShortSide(f0, Math.trunc(256 / 224 * size));
      normalizeInto(
        crop(r, Math.floor((r.width - size) / 2), Math.floor((r.height - size) / 2), size, size),
        one,
        t,
      );
      const r3 = resizeShortSide(f0, size);
      threeCropOffsets(r3.width, r3.height, size).forEach(([x, y], c) =>
        normalizeInto(crop(r3, x, y, size, size), three, c * 2 + t)
      );
    });
    assert(same(testTransform(frames, { size }).data, one), `test ${w}x${h} size ${size}`);
    assert(same(testTransform(frames, { size, crops: 3 }).data, three), `test 3-crop ${w}x${h} size ${size}`);
  }
});

interface FixtureIndex {
  opencv: string;
  pillow: string;
  images: Record<string, { width: number; height: number; at: [number, number] }>;
  resize: { src: string; width: number; height: number; at: [number, number] }[];
  color: { op: string; factor: number; at: [number, number] }[];
  /** float32 little-endian (256, 3): mmcv.imnormalize_ of every byte value */
  normalize: [number, number];
}

const fixtureDir = new URL("./fixtures/", import.meta.url);

Deno.test("bit-exact against cv2.resize and Pillow (fixtures from make_transform_fixtures.py)", async () => {
  const index = JSON.parse(Deno.readTextFileSync(new URL("transforms.json", fixtureDir))) as FixtureIndex;
  const gz = new Blob([Deno.readFileSync(new URL("transforms.bin.gz", fixtureDir))]).stream();
  const bin = new Uint8Array(
    await new Response(gz.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer(),
  );
  const view = ([off, n]: [number, number]) => bin.subarray(off, off + n);
  const img = (name: string): Frame => {
    const i = index.images[name];
    return { width: i.width, height: i.height, data: view(i.at) };
  };
  const report: string[] = [];
  let bad = 0;
  for (const r of index.resize) {
    const got = resizeBilinear(img(r.src), r.width, r.height).data;
    const want = view(r.at);
    let diff = 0;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) diff++;
    if (diff) {
      bad++, report.push(`resize ${r.src} -> ${r.width}x${r.height}: ${diff} of ${want.length} differ`);
    }
  }
  const src = img("noise");
  for (const c of index.color) {
    const fn = {
      brightness: adjustBrightness,
      contrast: adjustContrast,
      saturation: adjustSaturation,
      hue: adjustHue,
      gray: (f: Frame) => grayscale(f),
    }[c.op]!;
    const got = fn(src, c.factor).data;
    const want = view(c.at);
    let diff = 0;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) diff++;
    if (diff) bad++, report.push(`${c.op} ${c.factor}: ${diff} of ${want.length} differ`);
  }
  // every byte value through normalisation, against mmcv.imnormalize_ on cv2
  const ramp = new Uint8Array(256 * 3).map((_, i) => Math.floor(i / 3));
  const norm = new Float32Array(3 * 256);
  normalizeInto({ width: 256, height: 1, data: ramp }, norm, 0);
  const nb = view(index.normalize);
  const wantNorm = new Float32Array(nb.buffer.slice(nb.byteOffset, nb.byteOffset + nb.byteLength));
  let nd = 0;
  for (let v = 0; v < 256; v++) {
    for (let c = 0; c < 3; c++) if (norm[c * 256 + v] !== wantNorm[v * 3 + c]) nd++;
  }
  if (nd) bad++, report.push(`normalise: ${nd} of 768 differ`);
  console.log(`reference: OpenCV ${index.opencv}, Pillow ${index.pillow}`);
  for (const l of report) console.log(l);
  assertEquals(bad, 0, "cases differing from the reference");
});
