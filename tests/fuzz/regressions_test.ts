// Files the fuzz test (tests/fuzz/fuzz_test.ts) found breaking the contract, rebuilt as small crafted files
// so that each stays tested whatever seed the fuzz run draws. (The MP4 whose stsz declared 201 million
// samples has its own tests in tests/video/mp4_tables_test.ts.)

import { type WritableTensor, writeSafetensors } from "../../lib/io/safetensors.ts";
import { inspectWeights, loadWeights } from "../../lib/models/weights/load.ts";
import { CLIP_CONFIGS, initClipWeights } from "../../lib/models/config.ts";
import { unpickle } from "../../lib/io/pickle.ts";

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

async function refusal(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected a refusal");
}

// VIFI_SEED=3, pth case: bit flips made visual.conv1.weight's kernel 0×0, so the inferred patch was 0 and
// "vifi: resolution 0 is not a multiple of patch 0" escaped without the file's name.
Deno.test("regression: a weight file whose conv1 kernel is 0x0 is refused naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-fuzz-reg-" });
  try {
    const tensors = new Map<string, WritableTensor>();
    for (const [name, t] of initClipWeights({ ...CLIP_CONFIGS.tiny }, 5)) {
      const zero = name === "visual.conv1.weight";
      tensors.set(name, {
        dtype: "F16",
        shape: zero ? [t.shape[0], 3, 0, 0] : t.shape,
        data: zero ? new Float32Array(0) : t.data,
      });
    }
    const file = `${dir}/patch0.safetensors`;
    await Deno.writeFile(file, writeSafetensors(tensors, { format: "pt" }));
    for (const read of [inspectWeights, loadWeights]) {
      const message = await refusal(() => read(file, { strict: false, headWidth: 16 }));
      check(message.includes(file) && message.includes("patch 0"), message);
      check(!/[\r\n]/.test(message), `several lines: ${message}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// VIFI_SEED=14, pth case 439: random bytes gave a BINSTRING a negative length; the read position moved
// before the data and the next opcode, undefined, escaped as "Cannot read properties of undefined".
Deno.test("regression: a pickle BINSTRING of negative length is refused naming the file", () => {
  // PROTO 2, BINSTRING of length -100, STOP
  const bytes = Uint8Array.of(0x80, 0x02, 0x54, ...new Uint8Array(Int32Array.of(-100).buffer), 0x2e);
  let err: unknown;
  try {
    unpickle(bytes, { fileName: "neg.pth" });
  } catch (e) {
    err = e;
  }
  check(!(err instanceof TypeError), `escaped as ${err}`);
  const message = (err as Error).message;
  check(message.includes("neg.pth") && message.includes("negative length"), message);
});
