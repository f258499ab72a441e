// The part of WebCodecs (https://w3c.github.io/webcodecs/) that ./video.ts uses, typed here because Deno's
// type library has no DOM; at run time these are the page's own classes, found on globalThis.

export interface PlaneLayout {
  offset: number;
  stride: number;
}

export interface VideoFrameLike {
  readonly format: string | null;
  readonly timestamp: number;
  readonly visibleRect: { width: number; height: number } | null;
  readonly colorSpace: { matrix?: string | null; fullRange?: boolean | null } | null;
  allocationSize(): number;
  copyTo(dest: Uint8Array): Promise<PlaneLayout[]>;
  close(): void;
}

export interface VideoDecoderConfig {
  codec: string;
  description?: Uint8Array;
  codedWidth?: number;
  codedHeight?: number;
}

export interface VideoDecoderLike {
  readonly state: "unconfigured" | "configured" | "closed";
  configure(config: VideoDecoderConfig): void;
  decode(chunk: unknown): void;
  flush(): Promise<void>;
  close(): void;
}

export interface WebCodecs {
  VideoDecoder: {
    new (init: { output: (f: VideoFrameLike) => void; error: (e: Error) => void }): VideoDecoderLike;
    isConfigSupported(config: VideoDecoderConfig): Promise<{ supported?: boolean }>;
  };
  EncodedVideoChunk: new (init: {
    type: "key" | "delta";
    timestamp: number;
    duration?: number;
    data: Uint8Array;
  }) => unknown;
}

/** The page's WebCodecs, or undefined where the browser has none (Deno, older browsers, insecure pages). */
export function webCodecs(): WebCodecs | undefined {
  const g = globalThis as unknown as Partial<WebCodecs>;
  return g.VideoDecoder && g.EncodedVideoChunk ? g as WebCodecs : undefined;
}
