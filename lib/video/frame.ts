// The frame the spatial transforms work on (HWC RGB bytes) and the geometric ops that move bytes without
// changing them: crop and horizontal flip. Exact by construction.

export interface Frame {
  width: number;
  height: number;
  /** HWC RGB */
  data: Uint8Array;
}

/** Throws unless the w×h window at (x, y) lies inside an fw×fh frame. */
export function checkCrop(fw: number, fh: number, x: number, y: number, w: number, h: number): void {
  if (x < 0 || y < 0 || x + w > fw || y + h > fh || w < 1 || h < 1) {
    throw new Error(`crop ${w}x${h}+${x}+${y} outside ${fw}x${fh}`);
  }
}

export function crop(f: Frame, x: number, y: number, w: number, h: number): Frame {
  checkCrop(f.width, f.height, x, y, w, h);
  const out = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) {
    const s = ((y + r) * f.width + x) * 3;
    out.set(f.data.subarray(s, s + w * 3), r * w * 3);
  }
  return { width: w, height: h, data: out };
}

export function flipHorizontal(f: Frame): Frame {
  const out = new Uint8Array(f.data.length);
  const { width: w, height: h, data: s } = f;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3, j = (y * w + (w - 1 - x)) * 3;
      out[j] = s[i], out[j + 1] = s[i + 1], out[j + 2] = s[i + 2];
    }
  }
  return { width: w, height: h, data: out };
}
