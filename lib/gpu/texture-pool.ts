// Sampled textures that mirror a storage buffer's rows, reused by size like the buffer pool (and,
// like it, recycled only after the submit that last read them).

export type RowFormat = "rgba32float" | "rgba16float";

export class TexturePool {
  private free = new Map<string, GPUTexture[]>();
  private pending: [string, GPUTexture][] = [];

  constructor(private device: GPUDevice) {}

  acquire(width: number, height: number, format: RowFormat): GPUTexture {
    const key = `${width}x${height}:${format}`;
    return this.free.get(key)?.pop() ?? this.device.createTexture({
      size: [width, height],
      format,
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
      label: `rows ${key}`,
    });
  }

  release(tex: GPUTexture): void {
    this.pending.push([`${tex.width}x${tex.height}:${tex.format}`, tex]);
  }

  recycle(): void {
    for (const [key, tex] of this.pending) {
      let list = this.free.get(key);
      if (!list) this.free.set(key, list = []);
      list.push(tex);
    }
    this.pending.length = 0;
  }

  trim(): void {
    for (const list of this.free.values()) for (const t of list) t.destroy();
    this.free.clear();
  }
}
