// Where this process sits among the processes a launcher started: read from the environment the
// launcher sets, before (and without) loading any MPI library. A process no launcher started is a
// world of one, and that path never touches FFI.

import { readEnv } from "../io/env.ts";

export type Launcher = "mpirun" | "pmix" | "pmi" | "none";

export interface LaunchInfo {
  /** who started the process; "none" = a plain process, a world of one */
  launcher: Launcher;
  rank: number;
  size: number;
  /** rank among the processes on this node (which GPU to take) */
  localRank: number;
  localSize: number;
}

/** The launcher variables this module reads, named in error messages. */
export const LAUNCHER_VARIABLES = "OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE";

/**
 * The launch as the environment describes it. Open MPI's mpirun sets OMPI_COMM_WORLD_*; srun sets
 * PMIX_RANK (--mpi=pmix) or PMI_RANK/PMI_SIZE (--mpi=pmi2) with SLURM_NTASKS/SLURM_LOCALID. SLURM_*
 * alone is not a launch: an sbatch script's batch shell has SLURM_NTASKS too, and runs one trainer.
 */
export function launchFromEnv(env: (name: string) => string | undefined = readEnv): LaunchInfo {
  const int = (name: string): number | undefined => {
    const v = env(name);
    if (v === undefined || v === "") return undefined;
    if (!/^\d+$/.test(v.trim())) throw new Error(`vifi: MPI: ${name}=${JSON.stringify(v)} is not a count`);
    return Number(v.trim());
  };
  let launcher: Launcher = "none";
  let rank: number | undefined, size: number | undefined;
  if (int("OMPI_COMM_WORLD_SIZE") !== undefined) {
    launcher = "mpirun";
    rank = int("OMPI_COMM_WORLD_RANK");
    size = int("OMPI_COMM_WORLD_SIZE");
  } else if (int("PMIX_RANK") !== undefined) {
    launcher = "pmix";
    rank = int("PMIX_RANK");
    size = int("SLURM_NTASKS") ?? int("PMIX_SIZE");
  } else if (int("PMI_SIZE") !== undefined) {
    launcher = "pmi";
    rank = int("PMI_RANK");
    size = int("PMI_SIZE");
  }
  if (launcher === "none") return { launcher, rank: 0, size: 1, localRank: 0, localSize: 1 };
  if (rank === undefined || size === undefined) {
    throw new Error(
      `vifi: MPI: the ${launcher} launch sets no rank or no world size (${LAUNCHER_VARIABLES})`,
    );
  }
  if (size < 1 || rank >= size) throw new Error(`vifi: MPI: rank ${rank} is outside a world of ${size}`);
  const localRank = int("OMPI_COMM_WORLD_LOCAL_RANK") ?? int("SLURM_LOCALID") ?? int("MPI_LOCALRANKID") ??
    0;
  const localSize = int("OMPI_COMM_WORLD_LOCAL_SIZE") ?? int("SLURM_NTASKS_PER_NODE") ??
    int("MPI_LOCALNRANKS") ?? 1;
  return { launcher, rank, size, localRank, localSize: Math.max(localSize, localRank + 1) };
}

// ---------------------------------------------------------------------------------------------------
// A GPU per rank. WebGPU cannot name an adapter: Deno's requestAdapter asks wgpu, which takes the first
// adapter of the preferred kind (a discrete GPU) in the order Vulkan enumerates them. On a node of 8
// GPUs every rank would open the same first one. What decides that order, and can be set from inside
// the process (wgpu's instance, and with it Vulkan's, is created by the first requestAdapter, which
// reads the C environment that Deno.env.set writes), is Mesa's implicit Vulkan layer
// VK_LAYER_MESA_device_select: DRI_PRIME=pci-DDDD_BB_DD_F puts the GPU at that PCI address first,
// whatever its driver (NVIDIA's included: the layer reads VK_EXT_pci_bus_info). MESA_VK_DEVICE_SELECT
// takes vendor:device ids, which cannot tell eight identical GPUs apart, and NVIDIA's Vulkan driver
// ignores CUDA_VISIBLE_DEVICES. Where the launcher already isolates the GPUs (Slurm's ConstrainDevices,
// a container per rank), the others' device files cannot be opened and there is nothing to choose.

/** A GPU on this node, as the PCI bus lists it. */
export interface NodeGpu {
  /** PCI address as sysfs writes it: 0000:41:00.0 */
  pci: string;
  vendor: number;
  device: number;
  /** NVIDIA's GPU UUID (GPU-…), what CUDA_VISIBLE_DEVICES may name instead of an index */
  uuid?: string;
  /** this process may open its device file (false where a cgroup or a container hides it) */
  usable: boolean;
}

export interface GpuChoice {
  /** variables to set before the first requestAdapter */
  env: Record<string, string>;
  /** the GPU asked for, where there was one to choose */
  gpu?: NodeGpu;
  /** whether the choice takes effect: false without Mesa's device-select layer */
  effective: boolean;
  /** GPUs this process may open */
  usable: number;
  /** the line to print; undefined where there is nothing to say (no launcher, or no GPU) */
  message?: string;
}

export interface GpuChoiceInput {
  launch: LaunchInfo;
  env: (name: string) => string | undefined;
  gpus: NodeGpu[];
  /** VK_LAYER_MESA_device_select is installed and not disabled */
  layer: boolean;
}

/** The variables a launcher uses to hand GPUs to a process, in the order they are trusted. */
const VISIBLE_VARIABLES = ["CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"];

const hex4 = (n: number) => n.toString(16).padStart(4, "0");
const describe = (g: NodeGpu) => `${g.pci} (${hex4(g.vendor)}:${hex4(g.device)})`;

/** Mesa's DRI_PRIME tag for a PCI address: 0000:41:00.0 → pci-0000_41_00_0. */
export function driPrimeTag(pci: string): string {
  return `pci-${pci.toLowerCase().replace(/[:.]/g, "_")}`;
}

/** 41:00.0, 0000:41:00.0 and nvidia-smi's 00000000:41:00.0 as sysfs writes it, or undefined. */
export function normalPci(s: string): string | undefined {
  const m = /^(?:([0-9a-f]{4,8}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(s.trim());
  if (!m) return undefined;
  const domain = (m[1] ?? "0000").slice(-4);
  return `${domain}:${m[2]}:${m[3]}.${m[4]}`.toLowerCase();
}

/** An entry of VIFI_GPU_PER_RANK or CUDA_VISIBLE_DEVICES: an index (PCI order), a PCI address or a UUID. */
function resolveGpu(entry: string, usable: NodeGpu[]): NodeGpu | undefined {
  if (/^\d+$/.test(entry)) return usable[Number(entry)];
  const pci = normalPci(entry);
  if (pci) return usable.find((g) => g.pci === pci);
  if (/^GPU-/i.test(entry)) return usable.find((g) => g.uuid?.toLowerCase() === entry.toLowerCase());
  return undefined;
}

/**
 * Which GPU this process should open, and the environment that makes Vulkan put it first. Pure: the
 * launch, the environment, the node's GPUs and whether the layer is there are its inputs.
 *   VIFI_GPU_PER_RANK=off: nothing. VIFI_GPU_PER_RANK=a,b,…: local rank i takes entry i (mod the
 *   count), an index into the usable GPUs in PCI order or a PCI address; this also works in a plain
 *   process. Otherwise, under a launcher: DRI_PRIME or MESA_VK_DEVICE_SELECT already set are left as
 *   they are; one usable GPU (or none: a software adapter) leaves nothing to choose; a launcher's
 *   CUDA_VISIBLE_DEVICES (ROCR_/HIP_) entry for this local rank is taken; else local rank i takes
 *   usable GPU i (mod their count).
 */
export function chooseGpu({ launch, env, gpus, layer }: GpuChoiceInput): GpuChoice {
  const who = launch.launcher === "none"
    ? "vifi"
    : `vifi: rank ${launch.rank} (local ${launch.localRank} of ${launch.localSize})`;
  const usable = gpus.filter((g) => g.usable).sort((a, b) => a.pci < b.pci ? -1 : a.pci > b.pci ? 1 : 0);
  const none: GpuChoice = { env: {}, effective: false, usable: usable.length };
  const setting = (env("VIFI_GPU_PER_RANK") ?? "").trim();
  if (setting.toLowerCase() === "off") return none;
  const listed = setting !== "" && setting.toLowerCase() !== "auto";
  if (!listed && launch.launcher === "none") return none; // one process: the default adapter, as always
  for (const name of ["DRI_PRIME", "MESA_VK_DEVICE_SELECT"]) {
    const v = env(name);
    if (v) {
      return { ...none, message: `${who}: ${name}=${v} is set already; vifi leaves the GPU choice to it` };
    }
  }
  let pick: NodeGpu | undefined, how = "";
  if (listed) {
    const entries = setting.split(",").map((s) => s.trim());
    const i = launch.localRank % entries.length;
    pick = resolveGpu(entries[i], usable);
    if (!pick) {
      throw new Error(
        `vifi: VIFI_GPU_PER_RANK=${setting}: entry ${i} (${
          entries[i] || "empty"
        }) is neither an index below ` +
          `${usable.length} nor the PCI address of a GPU this process may open (${
            usable.map((g) => g.pci).join(", ") || "none"
          }); or off, or auto`,
      );
    }
    how = `VIFI_GPU_PER_RANK entry ${i}`;
  } else {
    if (usable.length === 0) return none; // a software adapter (lavapipe) or no driver: nothing to choose
    if (usable.length === 1) {
      const others = gpus.length > 1
        ? `; the node's ${gpus.length - 1} other GPUs are closed to it (the launcher's isolation)`
        : launch.localSize > 1
        ? `; the ${launch.localSize} ranks on this node share it`
        : "";
      return {
        ...none,
        gpu: usable[0],
        message: `${who}: GPU ${describe(usable[0])}, the one it may open${others}`,
      };
    }
    for (const name of VISIBLE_VARIABLES) {
      const v = env(name)?.trim();
      if (!v) continue;
      const entries = v.split(",").map((s) => s.trim());
      const i = entries.length === 1 ? 0 : launch.localRank % entries.length;
      pick = resolveGpu(entries[i], usable);
      how = pick ? `${name} entry ${i}` : `${name}=${v} names no GPU here, so by local rank`;
      break;
    }
    if (!pick) {
      pick = usable[launch.localRank % usable.length];
      how = how || `local rank ${launch.localRank} of ${usable.length} GPUs`;
    }
  }
  const tag = driPrimeTag(pick.pci);
  const shared = launch.localSize > usable.length
    ? `; ${launch.localSize} ranks on this node for ${usable.length} GPUs, so some share one`
    : "";
  const missing = layer
    ? ""
    : "; WARNING: Mesa's Vulkan device-select layer is not installed or disabled, so " +
      "Vulkan still gives this process its first GPU (install mesa-vulkan-drivers, or have the launcher " +
      "isolate GPUs: Slurm ConstrainDevices=yes, a container per rank)";
  return {
    env: { DRI_PRIME: tag },
    gpu: pick,
    effective: layer,
    usable: usable.length,
    message: `${who}: GPU ${describe(pick)} by ${how}, DRI_PRIME=${tag}${shared}${missing}`,
  };
}

/** The file a GPU's driver is opened through: NVIDIA's /dev/nvidiaN, else the DRM render node. */
function deviceFile(dir: string, pci: string, vendor: number): { file?: string; uuid?: string } {
  if (vendor === 0x10de) {
    try {
      const info = Deno.readTextFileSync(`/proc/driver/nvidia/gpus/${pci}/information`);
      const minor = /Device Minor:\s*(\d+)/.exec(info)?.[1];
      const uuid = /GPU UUID:\s*(\S+)/.exec(info)?.[1];
      return { file: minor === undefined ? undefined : `/dev/nvidia${minor}`, uuid };
    } catch { /* the nvidia driver is not loaded: its render node, if any, below */ }
  }
  try {
    for (const e of Deno.readDirSync(`${dir}/drm`)) {
      if (e.name.startsWith("renderD")) return { file: `/dev/dri/${e.name}` };
    }
  } catch { /* no DRM driver bound */ }
  return {};
}

/**
 * The node's GPUs from sysfs (PCI class 0x0300 VGA or 0x0302 3D controller) that have a driver's device
 * file; usable where this process can open that file (a cgroup's device rule or a container that
 * lacks the file make it unusable). A display-only chip (a server's BMC) has no render node: left out.
 */
export function gpusOnNode(root = "/sys/bus/pci/devices"): NodeGpu[] {
  const out: NodeGpu[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(root)];
  } catch {
    return out; // no sysfs (macOS, a sandbox): nothing known, nothing chosen
  }
  for (const e of entries) {
    const dir = `${root}/${e.name}`;
    try {
      const cls = parseInt(Deno.readTextFileSync(`${dir}/class`), 16) >> 8;
      if (cls !== 0x0300 && cls !== 0x0302) continue;
      const vendor = parseInt(Deno.readTextFileSync(`${dir}/vendor`), 16);
      const device = parseInt(Deno.readTextFileSync(`${dir}/device`), 16);
      const pci = normalPci(e.name) ?? e.name;
      const { file, uuid } = deviceFile(dir, pci, vendor);
      if (!file) continue;
      let usable = false;
      try {
        Deno.openSync(file, { read: true }).close();
        usable = true;
      } catch { /* denied or absent */ }
      out.push({ pci, vendor, device, uuid, usable });
    } catch { /* a device that vanished or is unreadable: not a GPU we can use */ }
  }
  return out;
}

/**
 * Whether the Vulkan loader will load VK_LAYER_MESA_device_select: its manifest in one of the
 * loader's implicit-layer folders, and not disabled (NODEVICE_SELECT=1, VK_LOADER_LAYERS_DISABLE).
 */
export function deviceSelectLayer(
  env: (name: string) => string | undefined = readEnv,
  dirs?: string[],
): boolean {
  if (env("NODEVICE_SELECT") === "1") return false;
  const disabled = env("VK_LOADER_LAYERS_DISABLE") ?? "";
  if (/~all~|~implicit~|device_select/i.test(disabled)) return false;
  const home = env("HOME") ?? "";
  const data = (env("XDG_DATA_DIRS") || "/usr/local/share:/usr/share").split(":");
  const config = (env("XDG_CONFIG_DIRS") || "/etc/xdg").split(":");
  const folders = dirs ?? [
    ...(env("VK_ADD_IMPLICIT_LAYER_PATH") ?? "").split(":").filter(Boolean),
    `${env("XDG_CONFIG_HOME") || `${home}/.config`}/vulkan/implicit_layer.d`,
    ...config.map((d) => `${d}/vulkan/implicit_layer.d`),
    "/etc/vulkan/implicit_layer.d",
    `${env("XDG_DATA_HOME") || `${home}/.local/share`}/vulkan/implicit_layer.d`,
    ...data.map((d) => `${d}/vulkan/implicit_layer.d`),
  ];
  for (const dir of folders) {
    try {
      for (const e of Deno.readDirSync(dir)) {
        if (!e.name.endsWith(".json")) continue;
        if (Deno.readTextFileSync(`${dir}/${e.name}`).includes("VK_LAYER_MESA_device_select")) return true;
      }
    } catch { /* no such folder */ }
  }
  return false;
}

let applied: GpuChoice | undefined;

/**
 * Chooses this process's GPU (chooseGpu) and sets the environment for it, once, before the first
 * requestAdapter; prints the choice's line. Outside Deno, or without the permissions to read the
 * launcher's environment and sysfs, it chooses nothing. A bad VIFI_GPU_PER_RANK throws.
 */
export function chooseGpuForThisProcess(): GpuChoice | undefined {
  if (applied || typeof Deno === "undefined") return applied;
  let launch: LaunchInfo;
  try {
    launch = launchFromEnv();
  } catch {
    return undefined; // initWorld reports a malformed launch
  }
  const setting = readEnv("VIFI_GPU_PER_RANK");
  if (launch.launcher === "none" && !setting) return undefined; // skip sysfs for a plain process
  const choice = chooseGpu({ launch, env: readEnv, gpus: gpusOnNode(), layer: deviceSelectLayer() });
  try {
    for (const [k, v] of Object.entries(choice.env)) Deno.env.set(k, v);
  } catch (e) {
    throw new Error(`vifi: cannot set ${Object.keys(choice.env).join(", ")} (run with --allow-env): ${e}`);
  }
  if (choice.message) console.error(choice.message);
  applied = choice;
  return choice;
}

/** What a rank reports of its GPU after opening it (gathered by checkGpusPerRank). */
export interface RankGpu {
  rank: number;
  /** hash of the host name */
  host: number;
  /** hash of the adapter's vendor, device and description */
  adapter: number;
  /** hash of the DRI_PRIME/MESA_VK_DEVICE_SELECT value that took effect; 0 where nothing chose */
  chosen: number;
  /** GPUs this rank could open */
  gpus: number;
}

/** FNV-1a, 32 bits: exact in a float64, so the all-reduce gathers it unchanged. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h || 1;
}

/**
 * Ranks that look as if they share one GPU: on the same host, with the same adapter, where that host
 * has several GPUs they could open, and nothing effective chose different GPUs for them (no choice,
 * or the same one). Ranks given different PCI addresses by an effective choice are not flagged even
 * when their adapters look alike: eight identical GPUs report identical adapters.
 */
export function sharedGpuGroups(ranks: RankGpu[]): number[][] {
  const groups = new Map<string, number[]>();
  for (const r of ranks) {
    if (r.gpus < 2) continue;
    const key = `${r.host}/${r.adapter}/${r.chosen}`;
    groups.set(key, [...(groups.get(key) ?? []), r.rank]);
  }
  return [...groups.values()].filter((g) => g.length > 1).map((g) => g.sort((a, b) => a - b));
}

/** The collectives checkGpusPerRank needs (lib/dist/mpi.ts's World). */
interface Gather {
  rank: number;
  size: number;
  distributed: boolean;
  allreduceSum(data: Float64Array): Promise<void>;
}

/** An adapter as WebGPU describes it (lib/gpu/device.ts's AdapterSummary has these). */
export interface AdapterLike {
  description: string;
  vendor: string;
  device: string;
}

/**
 * After the GPU is opened, collectively (every rank calls it, in the same place): each rank prints
 * which adapter it opened; one whose opened adapter is not the PCI vendor:device it chose, and (rank
 * 0) ranks that share a GPU while their host has several (sharedGpuGroups), give a warning. A warning,
 * not an error: ranks sharing a GPU compute the same numbers, only slower, and a run of more ranks
 * than GPUs may be meant (a test, one GPU shared by 2 ranks). Returns the warnings.
 */
export async function checkGpusPerRank(world: Gather, adapter: AdapterLike): Promise<string[]> {
  const choice = applied;
  const warnings: string[] = [];
  const name = JSON.stringify(adapter.description || "unknown adapter");
  const id = (s: string) => (/^0x/i.test(s) ? parseInt(s, 16) : /^\d+$/.test(s) ? Number(s) : NaN);
  const [vendor, device] = [id(adapter.vendor), id(adapter.device)];
  const ids = Number.isNaN(vendor) ? "" : ` (${hex4(vendor)}:${hex4(device)})`;
  if (choice?.gpu && choice.effective && (vendor !== choice.gpu.vendor || device !== choice.gpu.device)) {
    warnings.push(
      `vifi: WARNING: rank ${world.rank} asked for GPU ${describe(choice.gpu)} but opened ${name}${ids}`,
    );
  }
  if (!world.distributed) {
    for (const w of warnings) console.error(w);
    return warnings;
  }
  let host = "";
  try {
    host = Deno.hostname();
  } catch { /* no --allow-sys: all ranks count as one host, which only makes the check stricter */ }
  const effective = choice?.effective && choice.gpu ? driPrimeTag(choice.gpu.pci) : "";
  const user = readEnv("DRI_PRIME") || readEnv("MESA_VK_DEVICE_SELECT") || "";
  const chosen = effective || (deviceSelectLayer() ? user : "");
  const table = new Float64Array(5 * world.size);
  table.set(
    [
      world.rank,
      hash32(host),
      hash32(`${adapter.vendor}:${adapter.device}:${adapter.description}`),
      chosen ? hash32(chosen) : 0,
      choice?.usable ?? gpusOnNode().filter((g) => g.usable).length,
    ],
    5 * world.rank,
  );
  console.error(`vifi: rank ${world.rank} on ${host || "this host"} opened ${name}${ids}`);
  await world.allreduceSum(table);
  const ranks: RankGpu[] = [];
  for (let r = 0; r < world.size; r++) {
    const [rank, h, a, c, gpus] = table.subarray(5 * r, 5 * r + 5);
    ranks.push({ rank, host: h, adapter: a, chosen: c, gpus });
  }
  if (world.rank === 0) {
    for (const g of sharedGpuGroups(ranks)) {
      warnings.push(
        `vifi: WARNING: ranks ${g.join(", ")} share a host of ${ranks[g[0]].gpus} GPUs but opened the same ` +
          `adapter with nothing choosing a different one for each: they likely share one GPU ` +
          `(VIFI_GPU_PER_RANK, Mesa's device-select layer, or the launcher's GPU isolation would separate them)`,
      );
    }
  }
  for (const w of warnings) console.error(w);
  return warnings;
}
