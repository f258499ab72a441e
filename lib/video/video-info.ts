// What probing a video reports, and the error every stage of reading one throws (kept apart from decode.ts so
// that the MP4 prober and the ffmpeg driver below it can use them).

export interface VideoInfo {
  container: string;
  codec: string;
  width: number;
  height: number;
  fps: number;
  frameCount: number;
  /** presentation-order indices of the sync samples */
  keyFrames: number[];
  /** clockwise degrees from the track matrix (0, 90, 180, 270) */
  rotation: number;
  durationS: number;
  /** presentation time of each frame in seconds, relative to the first frame (MP4 only; empty otherwise) */
  times: number[];
  /**
   * where `frameCount` comes from, as decord's `len(reader)` takes it: the stream's frame count, else
   * fps × the container's duration (WebM has no count), else the packets counted
   */
  frameCountFrom?: "nb_frames" | "duration" | "packets";
}

export class VideoError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    // ffmpeg's log, quoted in some reasons, spans lines: the message stays one line
    super(`${file}: ${reason.replace(/\s*[\r\n\u2028\u2029]+\s*/g, " ")}`);
    this.name = "VideoError";
  }
}
