// Workgroup grids. WebGPU allows at most 65535 workgroups per dimension, so large 1-D problems are
// folded into x·y; kernels recover the flat index as g.x + g.y · nwg.x · WG.

export function grid1d(n: number, wg = 256, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}
