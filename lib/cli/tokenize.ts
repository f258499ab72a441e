// `deno task tokenize [--vocab FILE] [TEXT...]`: CLIP token ids of each text, one JSON array per line
// (SOT and EOT included, padding left out), so prompts can be checked against the Python tokenizer.
// With no TEXT, one text per line from stdin. Exit codes: 0 fine, 1 vocabulary or over-long text, 2 usage.

import { parseArgs } from "node:util";
import { CLIP_CONTEXT, loadTokenizer } from "../text/tokenizer.ts";
import { intArg, UsageError } from "./args.ts";

const USAGE = `usage:
  deno task tokenize [--vocab FILE] [--context N] [--truncate] [TEXT...]
      prints the CLIP BPE ids of each TEXT (or of each stdin line when no TEXT is given) as a JSON
      array per line, SOT ${49406} and EOT ${49407} included, padding left out.
      --vocab FILE   bpe_simple_vocab_16e6.txt.gz, or a folder with vocab.json + merges.txt
                     (default: the vifi cache, filled by \`deno task weights download ViT-B/16\`)
      --context N    context length a text must fit (default ${CLIP_CONTEXT})
      --truncate     cut over-long texts to N ids ending in EOT instead of failing`;

async function readStdinLines(): Promise<string[]> {
  const text = await new Response(Deno.stdin.readable).text();
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop(); // the final newline ends the last line, it does not start another
  return lines;
}

export async function main(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        vocab: { type: "string" },
        context: { type: "string" },
        truncate: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const context = intArg(values.context, "context", CLIP_CONTEXT, 2);
    const tok = await loadTokenizer({ vocab: values.vocab });
    const texts = positionals.length > 0 ? positionals : await readStdinLines();
    for (const text of texts) {
      const row = tok.tokenize([text], context, { truncate: values.truncate });
      // the appended EOT is the last one: padding is 0, while a text may spell out <|endoftext|> itself
      const end = row.lastIndexOf(tok.eot);
      console.log(JSON.stringify(Array.from(row.subarray(0, end + 1))));
    }
    return 0;
  } catch (e) {
    // parseArgs reports unknown flags as TypeErrors with a code; both are the user's to fix
    if (e instanceof UsageError || (e instanceof TypeError && "code" in e)) {
      console.error(`${e.message}\n\n${USAGE}`);
      return 2;
    }
    // a missing vocabulary, an unreadable file or a PromptTooLongError: a message, not a stack trace
    if (e instanceof Error) {
      console.error(`tokenize: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
