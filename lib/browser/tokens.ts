// CLIP's BPE tokenizer in a page: its vocabulary (bpe_simple_vocab_16e6.txt.gz, the file the server reads from
// its cache folder) fetched from the page's host, kept in the Cache API beside the weights, gunzipped with
// the browser's DecompressionStream, and parsed by the same code as on the server (lib/text/tokenizer.ts).

import { ClipTokenizer } from "../text/tokenizer.ts";
import { fetchWeights, type Progress } from "./weights.ts";

async function gunzipIfGzip(bytes: Uint8Array): Promise<Uint8Array> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const tokenizers = new Map<string, Promise<ClipTokenizer>>();

/** CLIP's tokenizer from the vocabulary at `url` (gzipped or not), built once per URL in this page. */
export function clipTokenizerFrom(url: string | URL, onProgress?: Progress): Promise<ClipTokenizer> {
  const href = new URL(url, globalThis.location?.href).href;
  let t = tokenizers.get(href);
  if (!t) {
    t = (async () => {
      const got = await fetchWeights(href, onProgress);
      const text = new TextDecoder().decode(await gunzipIfGzip(got.bytes));
      return ClipTokenizer.fromMergesText(text, href);
    })();
    // a failed fetch is not remembered: the next call tries again
    t.catch(() => tokenizers.delete(href));
    tokenizers.set(href, t);
  }
  return t;
}
