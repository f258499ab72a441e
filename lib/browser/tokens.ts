// CLIP's BPE tokenizer in a page: its vocabulary (bpe_simple_vocab_16e6.txt.gz, the file the server reads from
// its cache folder) fetched from the page's host, kept in the Cache API beside the weights, gunzipped and
// parsed by the same code as on the server (ClipTokenizer.fromBytes in lib/text/tokenizer.ts).

import { ClipTokenizer } from "../text/tokenizer.ts";
import { fetchWeights, type Progress } from "./weights.ts";

const tokenizers = new Map<string, Promise<ClipTokenizer>>();

/** CLIP's tokenizer from the vocabulary at `url` (gzipped or not), built once per URL in this page. */
export function clipTokenizerFrom(url: string | URL, onProgress?: Progress): Promise<ClipTokenizer> {
  const href = new URL(url, globalThis.location?.href).href;
  let t = tokenizers.get(href);
  if (!t) {
    t = (async () => {
      const got = await fetchWeights(href, onProgress);
      return await ClipTokenizer.fromBytes(got.bytes, href);
    })();
    // a failed fetch is not remembered: the next call tries again
    t.catch(() => tokenizers.delete(href));
    tokenizers.set(href, t);
  }
  return t;
}
