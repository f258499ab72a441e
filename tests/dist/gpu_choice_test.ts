// A GPU per rank (lib/dist/launch.ts): the pure choice (launch × environment × the node's GPUs), the
// DRI_PRIME tag it sets, the sysfs reading on a made-up tree, the layer's detection, the after-open
// "ranks share a GPU" analysis, and in child processes the two facts the mechanism rests on: a
// Deno.env.set before the first requestAdapter reaches the Vulkan layer's getenv (the instance is
// created then, not at startup), and a DRI_PRIME naming no device falls back to the default adapter.

import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import {
  chooseGpu,
  deviceSelectLayer,
  driPrimeTag,
  gpusOnNode,
  type LaunchInfo,
  type NodeGpu,
  normalPci,
  type RankGpu,
  sharedGpuGroups,
} from "../../lib/dist/launch.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];
const rank = (localRank: number, localSize: number, rank = localRank): LaunchInfo => ({
  launcher: "mpirun",
  rank,
  size: Math.max(localSize, rank + 1),
  localRank,
  localSize,
});
const plain: LaunchInfo = { launcher: "none", rank: 0, size: 1, localRank: 0, localSize: 1 };
const h100 = (pci: string, usable = true, uuid?: string): NodeGpu => ({
  pci,
  vendor: 0x10de,
  device: 0x2330,
  usable,
  uuid,
});
// listed out of PCI order: the choice sorts them
const EIGHT = ["0000:c1:00.0", "0000:18:00.0", "0000:9a:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:ab:00.0"]
  .concat(["0000:5d:00.0", "0000:db:00.0"]).map((p) => h100(p));
const SORTED = EIGHT.map((g) => g.pci).sort();

Deno.test("driPrimeTag and normalPci: Mesa's pci-DDDD_BB_DD_F from sysfs and nvidia-smi addresses", () => {
  assertEquals(driPrimeTag("0000:41:00.0"), "pci-0000_41_00_0");
  assertEquals(driPrimeTag("0000:C1:00.1"), "pci-0000_c1_00_1");
  assertEquals(normalPci("00000000:C1:00.0"), "0000:c1:00.0");
  assertEquals(normalPci("41:00.0"), "0000:41:00.0");
  assertEquals(normalPci("0001:41:1f.7"), "0001:41:1f.7");
  assertEquals([normalPci("41:00"), normalPci("GPU-1234"), normalPci("0000:41:00.8")], [
    undefined,
    undefined,
    undefined,
  ]);
});

Deno.test("chooseGpu: local rank i takes the i-th GPU in PCI order, through DRI_PRIME", () => {
  for (let i = 0; i < 8; i++) {
    const c = chooseGpu({ launch: rank(i, 8, 8 + i), env: envOf({}), gpus: EIGHT, layer: true });
    assertEquals(c.gpu?.pci, SORTED[i], `local rank ${i}`);
    assertEquals(c.env, { DRI_PRIME: driPrimeTag(SORTED[i]) });
    assert(c.effective && c.usable === 8);
    const line = c.message ?? "";
    assert(line.startsWith(`vifi: rank ${8 + i} (local ${i} of 8): GPU ${SORTED[i]} (10de:2330)`), line);
    assert(!line.includes("share") && !line.includes("\n"), line);
  }
  // 3 ranks on 2 GPUs: the third wraps round to the first, and the line says they share
  const two = [h100("0000:41:00.0"), h100("0000:01:00.0")];
  const c = chooseGpu({ launch: rank(2, 3), env: envOf({}), gpus: two, layer: true });
  assertEquals(c.gpu?.pci, "0000:01:00.0");
  assert(c.message?.includes("3 ranks on this node for 2 GPUs"), c.message);
  // without the layer the variable is still set (harmless) but the choice is not effective, and the line says so
  const n = chooseGpu({ launch: rank(1, 2), env: envOf({}), gpus: two, layer: false });
  assertEquals([n.gpu?.pci, n.effective, n.env.DRI_PRIME], ["0000:41:00.0", false, "pci-0000_41_00_0"]);
  assert(n.message?.includes("WARNING") && n.message.includes("device-select layer"), n.message);
});

Deno.test("chooseGpu: the launcher's CUDA_VISIBLE_DEVICES entry wins over the local rank", () => {
  const gpus = EIGHT.map((g, i) => ({ ...g, uuid: `GPU-${i}aa` }));
  const pick = (env: Record<string, string>, local = 0) =>
    chooseGpu({ launch: rank(local, 4), env: envOf(env), gpus, layer: true });
  assertEquals(pick({ CUDA_VISIBLE_DEVICES: "5" }, 1).gpu?.pci, SORTED[5]); // one entry: it, whatever the rank
  assertEquals(pick({ CUDA_VISIBLE_DEVICES: "1,3,5,7" }, 2).gpu?.pci, SORTED[5]); // several: the local rank's
  assertEquals(pick({ CUDA_VISIBLE_DEVICES: "GPU-2aa" }, 3).gpu?.pci, EIGHT[2].pci); // a UUID
  assertEquals(pick({ ROCR_VISIBLE_DEVICES: "6" }, 0).gpu?.pci, SORTED[6]);
  const mig = pick({ CUDA_VISIBLE_DEVICES: "MIG-abc" }, 3);
  assertEquals(mig.gpu?.pci, SORTED[3]);
  assert(mig.message?.includes("names no GPU here, so by local rank"), mig.message);
});

Deno.test("chooseGpu: nothing to choose (plain process, one usable GPU, a software adapter, off, set already)", () => {
  const none = chooseGpu({ launch: plain, env: envOf({}), gpus: EIGHT, layer: true });
  assertEquals([none.env, none.gpu, none.message], [{}, undefined, undefined]);
  // Slurm's ConstrainDevices: 8 on the bus, 1 openable
  const isolated = EIGHT.map((g) => ({ ...g, usable: g.pci === SORTED[4] }));
  const one = chooseGpu({
    launch: rank(3, 8),
    env: envOf({ CUDA_VISIBLE_DEVICES: "0" }),
    gpus: isolated,
    layer: true,
  });
  assertEquals([one.env, one.gpu?.pci, one.effective], [{}, SORTED[4], false]);
  assert(one.message?.includes("7 other GPUs are closed to it"), one.message);
  const shared = chooseGpu({ launch: rank(1, 2), env: envOf({}), gpus: [h100("0000:01:00.0")], layer: true });
  assert(shared.message?.includes("the 2 ranks on this node share it"), shared.message);
  // lavapipe: no PCI GPU at all
  const soft = chooseGpu({ launch: rank(1, 2), env: envOf({}), gpus: [], layer: true });
  assertEquals([soft.env, soft.message, soft.usable], [{}, undefined, 0]);
  const off = chooseGpu({
    launch: rank(1, 8),
    env: envOf({ VIFI_GPU_PER_RANK: "OFF" }),
    gpus: EIGHT,
    layer: true,
  });
  assertEquals([off.env, off.message], [{}, undefined]);
  for (const name of ["DRI_PRIME", "MESA_VK_DEVICE_SELECT"]) {
    const set = chooseGpu({ launch: rank(1, 8), env: envOf({ [name]: "x" }), gpus: EIGHT, layer: true });
    assertEquals(set.env, {});
    assert(set.message?.includes(`${name}=x is set already`), set.message);
  }
});

Deno.test("chooseGpu: VIFI_GPU_PER_RANK lists indices or PCI addresses, also for a plain process; bad ones are one-line errors", () => {
  const env = envOf({ VIFI_GPU_PER_RANK: "7, 0000:18:00.0,2" });
  const at = (local: number) => chooseGpu({ launch: rank(local, 4), env, gpus: EIGHT, layer: true }).gpu?.pci;
  assertEquals([at(0), at(1), at(2), at(3)], [SORTED[7], "0000:18:00.0", SORTED[2], SORTED[7]]);
  const alone = chooseGpu({
    launch: plain,
    env: envOf({ VIFI_GPU_PER_RANK: "c1:00.0" }),
    gpus: EIGHT,
    layer: true,
  });
  assertEquals(alone.env, { DRI_PRIME: "pci-0000_c1_00_0" });
  assert(alone.message?.startsWith("vifi: GPU 0000:c1:00.0"), alone.message);
  for (const bad of ["8", "0000:19:00.0", "first", "1,,2"]) {
    const e = assertThrows(
      () =>
        chooseGpu({ launch: rank(1, 2), env: envOf({ VIFI_GPU_PER_RANK: bad }), gpus: EIGHT, layer: true }),
      `VIFI_GPU_PER_RANK=${bad}`,
    );
    assert(!e.message.includes("\n") && e.message.includes("index below 8"), e.message);
  }
  // an index among the GPUs this process may open, not among all on the bus
  const closed = EIGHT.map((g) => ({ ...g, usable: g.pci !== SORTED[0] }));
  const c = chooseGpu({
    launch: rank(0, 1),
    env: envOf({ VIFI_GPU_PER_RANK: "0" }),
    gpus: closed,
    layer: true,
  });
  assertEquals(c.gpu?.pci, SORTED[1]);
  assertThrows(
    () => chooseGpu({ launch: rank(0, 2), env: envOf({ VIFI_GPU_PER_RANK: "0" }), gpus: [], layer: true }),
    "(none)",
  );
});

Deno.test("sharedGpuGroups: same host, same adapter, several GPUs and no effective choice apart", () => {
  const r = (rank: number, host: number, adapter: number, chosen: number, gpus: number): RankGpu => ({
    rank,
    host,
    adapter,
    chosen,
    gpus,
  });
  // 4 ranks on 2 hosts of 2 GPUs each, nothing chose: each host's pair shares
  assertEquals(sharedGpuGroups([r(0, 1, 9, 0, 2), r(1, 1, 9, 0, 2), r(2, 2, 9, 0, 2), r(3, 2, 9, 0, 2)]), [
    [0, 1],
    [2, 3],
  ]);
  // chosen apart: identical adapters are expected (identical GPUs), nothing flagged
  assertEquals(sharedGpuGroups([r(0, 1, 9, 5, 2), r(1, 1, 9, 6, 2)]), []);
  // the same choice (3 ranks wrapped onto 2 GPUs): ranks 0 and 2 share
  assertEquals(sharedGpuGroups([r(2, 1, 9, 5, 2), r(1, 1, 9, 6, 2), r(0, 1, 9, 5, 2)]), [[0, 2]]);
  // one GPU on the host (or one each through isolation): sharing is all there is, not flagged
  assertEquals(sharedGpuGroups([r(0, 1, 9, 0, 1), r(1, 1, 9, 0, 1)]), []);
  // different adapters on one host, or the same adapter on different hosts: not flagged
  assertEquals(sharedGpuGroups([r(0, 1, 8, 0, 2), r(1, 1, 9, 0, 2), r(2, 2, 9, 0, 2)]), []);
});

Deno.test("deviceSelectLayer and gpusOnNode read made-up folders", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/layers`);
    assert(!deviceSelectLayer(envOf({}), [`${dir}/layers`, `${dir}/missing`]));
    Deno.writeTextFileSync(`${dir}/layers/other.json`, `{"layer": {"name": "VK_LAYER_X"}}`);
    Deno.writeTextFileSync(`${dir}/layers/ds.json`, `{"layer": {"name": "VK_LAYER_MESA_device_select"}}`);
    assert(deviceSelectLayer(envOf({}), [`${dir}/missing`, `${dir}/layers`]));
    assert(!deviceSelectLayer(envOf({ NODEVICE_SELECT: "1" }), [`${dir}/layers`]));
    assert(!deviceSelectLayer(envOf({ VK_LOADER_LAYERS_DISABLE: "~implicit~" }), [`${dir}/layers`]));
    // sysfs: an AMD 3D controller with a render node, a BMC's VGA chip without one, a bridge
    const dev = (name: string, cls: string, vendor: string, device: string, render?: string) => {
      Deno.mkdirSync(`${dir}/pci/${name}`, { recursive: true });
      Deno.writeTextFileSync(`${dir}/pci/${name}/class`, `${cls}\n`);
      Deno.writeTextFileSync(`${dir}/pci/${name}/vendor`, `${vendor}\n`);
      Deno.writeTextFileSync(`${dir}/pci/${name}/device`, `${device}\n`);
      if (render) Deno.mkdirSync(`${dir}/pci/${name}/drm/${render}`, { recursive: true });
    };
    dev("0000:c3:00.0", "0x038000", "0x1002", "0x74a1", "renderD200");
    dev("0000:83:00.0", "0x030200", "0x1002", "0x740f", "renderD250");
    dev("0000:02:00.0", "0x030000", "0x1a03", "0x2000");
    dev("0000:00:00.0", "0x060000", "0x8086", "0x0d57");
    // class 0x0380 (display, other) is not a GPU class here; renderD250 does not exist here: not usable
    assertEquals(gpusOnNode(`${dir}/pci`), [
      { pci: "0000:83:00.0", vendor: 0x1002, device: 0x740f, uuid: undefined, usable: false },
    ]);
    assertEquals(gpusOnNode(`${dir}/nothing`), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** A child Deno process running `code` (stdout, stderr, exit code). */
async function child(code: string, env: Record<string, string> = {}) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    env: { ...env, DENO_WEBGPU_BACKEND: Deno.env.get("DENO_WEBGPU_BACKEND") ?? "vulkan" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

const layer = deviceSelectLayer();
if (!layer) {
  console.log(
    "tests/dist/gpu_choice_test.ts: Mesa's device-select layer is not installed: its checks skipped",
  );
}

Deno.test({
  name:
    "Deno.env.set before the first requestAdapter reaches the Vulkan layer; a DRI_PRIME naming no device falls back",
  ignore: !layer,
  fn: async () => {
    // MESA_VK_DEVICE_SELECT=list makes the layer print its devices and exit(0) when Vulkan enumerates them
    const listed = await child(
      `Deno.env.set("MESA_VK_DEVICE_SELECT", "list"); await navigator.gpu.requestAdapter(); console.log("not listed");`,
    );
    assert(listed.code === 0 && listed.err.includes("selectable devices:"), JSON.stringify(listed));
    assert(!listed.out.includes("not listed"), listed.out);
    // the control: with the layer disabled at instance creation (NODEVICE_SELECT=1) nothing lists
    const off = await child(
      `Deno.env.set("MESA_VK_DEVICE_SELECT", "list"); const a = await navigator.gpu.requestAdapter();` +
        `console.log(a ? "adapter" : "none");`,
      { NODEVICE_SELECT: "1" },
    );
    assertEquals([off.code, off.out.trim(), off.err.includes("selectable devices:")], [0, "adapter", false]);
    // the tag of a GPU this process cannot see (a cgroup hid it): the default adapter, not none
    const missing = await child(
      `Deno.env.set("DRI_PRIME", "pci-0000_99_00_0"); const a = await navigator.gpu.requestAdapter();` +
        `console.log(a ? a.info.description : "none");`,
    );
    assert(
      missing.code === 0 && missing.out.trim() !== "none" && missing.out.trim() !== "",
      JSON.stringify(missing),
    );
  },
});

Deno.test("requestGpu in a rank of a launch on this machine: no PCI GPU, nothing set; a bad VIFI_GPU_PER_RANK fails it", async () => {
  const device = new URL("../../lib/gpu/device.ts", import.meta.url).href;
  const code = `import { requestGpu } from ${JSON.stringify(device)};` +
    `const g = await requestGpu(); console.log(JSON.stringify([Deno.env.get("DRI_PRIME") ?? null, g.info.description]));`;
  const launch = {
    OMPI_COMM_WORLD_SIZE: "2",
    OMPI_COMM_WORLD_RANK: "1",
    OMPI_COMM_WORLD_LOCAL_RANK: "1",
    OMPI_COMM_WORLD_LOCAL_SIZE: "2",
  };
  const usable = gpusOnNode().filter((g) => g.usable).length;
  const ok = await child(code, launch);
  assert(ok.code === 0, ok.err);
  const [tag] = JSON.parse(ok.out.trim().split("\n").at(-1)!);
  if (usable < 2) assertEquals(tag, null, "one GPU or none here: nothing to choose");
  else assert(String(tag).startsWith("pci-"), ok.out);
  const bad = await child(code, { ...launch, VIFI_GPU_PER_RANK: "0000:99:00.0" });
  assert(bad.code !== 0 && bad.err.includes("VIFI_GPU_PER_RANK=0000:99:00.0"), JSON.stringify(bad));
});
