// Sampled textures that mirror a storage buffer's rows, reused by size like the buffer pool (and,
// like it, recycled only after the submit that last read them).

export type RowFormat = "rgba32float" | "rgba16float";

export class TexturePool {
  private free = new Map<string, GPUTexture[]>();
  private pending: [string, GPUTexture][] = [];
  /** during capture: the plan's textures (reused immediately on release, like its buffers) */
  scope?: { owned: GPUTexture[]; free: Map<string, GPUTexture[]> };

  constructor(private device: GPUDevice) {}

  acquire(width: number, height: number, format: RowFormat): GPUTexture {
    const key = `${width}x${height}:${format}`;
    const reused = (this.scope ? this.scope.free : this.free).get(key)?.pop();
    if (reused) return reused;
    const tex = this.device.createTexture({
      size: [width, height],
      format,
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
      label: `rows ${key}`,
    });
    this.scope?.owned.push(tex);
    return tex;
  }

  /** Call after the last dispatch that reads `tex` was recorded. */
  release(tex: GPUTexture): void {
    const key = `${tex.width}x${tex.height}:${tex.format}`;
    if (this.scope) {
      let list = this.scope.free.get(key);
      if (!list) this.scope.free.set(key, list = []);
      list.push(tex);
      return;
    }
    this.pending.push([key, tex]);
  }

  recycle(): void {
    for (const [key, tex] of this.pending) {
      let list = this.free.get(key);
      if (!list) this.free.set(key, list = []);
      list.push(tex);
    }
    this.pending.length = 0;
  }
}
