#!/usr/bin/env python3
"""PyTorch reference for `deno task bench --suite gpu`: the same ops at the same shapes, with the same
row names, so the bench can print vifi and PyTorch side by side.

  python3 bench/torch_reference.py [--scale tiny|full] [--device auto|cpu|cuda] [--budget-s S] [--json FILE]

Rows (op, shape, precision, variant, ms): every GEMM of the gpu suite (x @ W^T for the linear layers,
batched Q @ K^T and P @ V per head), attention forward and backward (scaled_dot_product_attention where
this torch has it, and composed from matmul + softmax), LayerNorm forward and backward, and a CLIP ViT-B/16
visual tower (written below, random weights, nothing downloaded) as ViFi-CLIP uses it: frames through the
tower, the mean over time, cosine logits against fixed class embeddings, soft-target cross-entropy; an
inference forward and a training step with AdamW. Each in fp32 eager and under bf16 autocast (fp32 master
weights). Times are best of 3 rounds of `reps` runs (1 round at tiny scale), synchronised on CUDA. A
backward row times torch.autograd.grad over a graph recorded once (retain_graph), so it is the backward
alone, as vifi's backward rows are. On a CPU the bf16 rows are skipped unless --precisions names bf16:
without native bf16 GEMMs (torch 1.13 here: 5.7 s for one 394x768x3072 GEMM) they take many minutes.

The shapes follow the same rules as lib/cli/bench/gpu-shapes.ts (suitePlan); keep the two in step.
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

TOKENS = {"B/16": 197, "L/14": 257}
WIDTH = {"B/16": 768, "L/14": 1024}


def linear_cases(model, frames, names):
    L, D = TOKENS[model], WIDTH[model]
    dims = {"qkv": (D, 3 * D), "proj": (D, D), "fc1": (D, 4 * D), "fc2": (4 * D, D)}
    return [dict(model=model, name=n, batch=1, M=L * frames, K=dims[n][0], N=dims[n][1], transB=True)
            for n in names]


def head_cases(model, frames):
    L = TOKENS[model]
    batch = frames * WIDTH[model] // 64
    return [dict(model=model, name="qk", batch=batch, M=L, K=64, N=L, transB=True),
            dict(model=model, name="pv", batch=batch, M=L, K=L, N=64, transB=False)]


def suite_plan(scale):
    if scale == "tiny":
        return dict(gemm=linear_cases("B/16", 1, ["proj"]) + head_cases("B/16", 1)[:1],
                    attention=[dict(B=1, H=12, L=197, dh=64)], layernorm=[dict(M=197 * 2, N=768)],
                    model=[dict(batch=1, frames=2, classes=2)], reps=1, rounds=1)
    frames = 4 * 8
    names = ["qkv", "proj", "fc1", "fc2"]
    return dict(gemm=linear_cases("B/16", frames, names) + head_cases("B/16", frames)
                + linear_cases("L/14", frames, names) + head_cases("L/14", frames),
                attention=[dict(B=frames, H=12, L=197, dh=64)], layernorm=[dict(M=197 * frames, N=768)],
                model=[dict(batch=4, frames=f, classes=8) for f in (8, 16, 32)], reps=5, rounds=3)


def gemm_shape(g):
    b = f"{g['batch']}×" if g["batch"] > 1 else ""
    return f"{g['model']} {g['name']} {b}{g['M']}x{g['K']}x{g['N']}"


class Timer:
    def __init__(self, device, reps, rounds):
        self.device, self.reps, self.rounds = device, reps, rounds

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def best_ms(self, fn):
        """Best of `rounds` rounds of `reps` calls, after one warm-up call."""
        fn()
        self.sync()
        rounds = []
        for _ in range(self.rounds):
            t0 = time.perf_counter()
            for _ in range(self.reps):
                fn()
            self.sync()
            rounds.append((time.perf_counter() - t0) * 1000 / self.reps)
        return min(rounds)


# --- a CLIP ViT-B/16 visual tower (OpenAI CLIP's layout: pre-LN blocks, QuickGELU, class token) ---

class QuickGELU(torch.nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class LayerNorm(torch.nn.LayerNorm):
    """In fp32 and back to the input's dtype, as CLIP's own (CPU autocast in torch 1.13 does not)."""

    def forward(self, x):
        return super().forward(x.float()).to(x.dtype)


class Block(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = LayerNorm(width)
        self.in_proj = torch.nn.Linear(width, 3 * width)
        self.out_proj = torch.nn.Linear(width, width)
        self.ln_2 = LayerNorm(width)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(width, 4 * width), QuickGELU(),
                                       torch.nn.Linear(4 * width, width))

    def attend(self, x):
        n, L, D = x.shape
        q, k, v = self.in_proj(x).view(n, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        o = attention(q, k, v, "sdpa" if hasattr(F, "scaled_dot_product_attention") else "composed")
        return self.out_proj(o.transpose(1, 2).reshape(n, L, D))

    def forward(self, x):
        x = x + self.attend(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class VisualTower(torch.nn.Module):
    def __init__(self, width=768, layers=12, heads=12, patch=16, resolution=224, embed=512):
        super().__init__()
        s = width ** -0.5
        self.conv1 = torch.nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = torch.nn.Parameter(s * torch.randn(width))
        self.positional_embedding = torch.nn.Parameter(s * torch.randn((resolution // patch) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.blocks = torch.nn.Sequential(*[Block(width, heads) for _ in range(layers)])
        self.ln_post = LayerNorm(width)
        self.proj = torch.nn.Parameter(s * torch.randn(width, embed))

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], 1) + self.positional_embedding.to(x.dtype)
        x = self.blocks(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


def vifi_loss(tower, frames, text, targets, logit_scale):
    """ViFi-CLIP's head: per-frame embeddings, mean over time, cosine logits, soft cross-entropy."""
    B, T = frames.shape[:2]
    e = tower(frames.flatten(0, 1)).view(B, T, -1).mean(1)
    logits = logit_scale * F.normalize(e.float(), dim=-1) @ text.t()
    return -(targets * logits.log_softmax(-1)).sum(-1).mean()


def attention(q, k, v, variant):
    if variant == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    s = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    return s.softmax(-1) @ v


# --- the rows ---

class Rows:
    def __init__(self, device, plan, budget_s):
        self.timer = Timer(device, plan["reps"], plan["rounds"])
        self.device = device
        self.rows = []
        self.t0 = time.perf_counter()
        self.budget_s = budget_s
        self.skip = {}
        self.list_only = False

    def add(self, op, shape, precision, variant, run, peak=False):
        row = dict(op=op, shape=shape, precision=precision, variant=variant)
        if self.list_only:
            pass
        elif precision in self.skip:
            row["skipped"] = self.skip[precision]
        elif time.perf_counter() - self.t0 > self.budget_s:
            row["skipped"] = "budget"
        else:
            if peak and self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            try:
                row["ms"] = run()
            except RuntimeError as e:  # e.g. bf16 kernels this build lacks on this device
                row["skipped"] = f"error: {str(e).splitlines()[0][:200]}"
            if peak and self.device.type == "cuda":
                row["peak_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
        self.rows.append(row)
        if not self.list_only:
            print(json.dumps(row), file=sys.stderr)
        return row.get("ms")

    def autocast(self, precision):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def gemm_rows(r, plan, precision):
    dev = r.device
    for g in plan["gemm"]:
        a = torch.randn(g["batch"], g["M"], g["K"], device=dev).squeeze(0)
        if g["transB"]:
            b = torch.randn(g["batch"], g["N"], g["K"], device=dev).squeeze(0)
        else:
            b = torch.randn(g["batch"], g["K"], g["N"], device=dev).squeeze(0)
        bb = b.transpose(-1, -2) if g["transB"] else b

        def run():
            with torch.no_grad(), r.autocast(precision):
                return torch.matmul(a, bb)

        r.add("gemm", gemm_shape(g), precision, "torch.matmul", lambda: r.timer.best_ms(run))


def attention_rows(r, plan, precision):
    variants = ["composed"] + (["sdpa"] if hasattr(F, "scaled_dot_product_attention") else [])
    for a in plan["attention"]:
        B, H, L, dh = a["B"], a["H"], a["L"], a["dh"]
        shape = f"{B}x{H}x{L}x{dh}"
        q, k, v = (torch.randn(B, H, L, dh, device=r.device, requires_grad=True) for _ in range(3))
        g = torch.randn(B, H, L, dh, device=r.device)
        for variant in variants:
            def fwd():
                with torch.no_grad(), r.autocast(precision):
                    return attention(q, k, v, variant)

            def bwd_ms():
                with r.autocast(precision):
                    o = attention(q, k, v, variant)
                go = g.to(o.dtype)
                return r.timer.best_ms(lambda: torch.autograd.grad(o, (q, k, v), go, retain_graph=True))

            r.add("attention fwd", shape, precision, variant, lambda: r.timer.best_ms(fwd))
            r.add("attention bwd", shape, precision, variant, bwd_ms)


def layernorm_rows(r, plan, precision):
    for ln in plan["layernorm"]:
        M, N = ln["M"], ln["N"]
        shape = f"{M}x{N}"
        dt = torch.bfloat16 if precision == "bf16" else torch.float32
        # autocast runs layer_norm in fp32, so the bf16 rows feed bf16 tensors directly
        x = torch.randn(M, N, device=r.device, dtype=dt, requires_grad=True)
        w = torch.randn(N, device=r.device, dtype=dt, requires_grad=True)
        b = torch.randn(N, device=r.device, dtype=dt, requires_grad=True)
        dy = torch.randn(M, N, device=r.device, dtype=dt)

        def fwd():
            with torch.no_grad():
                return F.layer_norm(x, (N,), w, b)

        def bwd_ms():
            y = F.layer_norm(x, (N,), w, b)
            return r.timer.best_ms(lambda: torch.autograd.grad(y, (x, w, b), dy, retain_graph=True))

        r.add("layernorm fwd", shape, precision, "F.layer_norm", lambda: r.timer.best_ms(fwd))
        r.add("layernorm bwd", shape, precision, "F.layer_norm", bwd_ms)


def model_rows(r, plan, precision):
    runs = 3 if plan["reps"] > 1 else 1
    for m in plan["model"]:
        B, T, C = m["batch"], m["frames"], m["classes"]
        shape = f"ViT-B/16 {B}x{T}x224² C={C}"
        torch.manual_seed(3)
        tower = VisualTower().to(r.device) if not r.list_only else torch.nn.Linear(1, 1)
        frames = torch.randn(B, T, 3, 224, 224, device=r.device)
        text = F.normalize(torch.randn(C, 512, device=r.device), dim=-1)
        targets = torch.zeros(B, C, device=r.device)
        targets[:, 0] = 1
        scale = math.exp(math.log(1 / 0.07))
        opt = torch.optim.AdamW(tower.parameters(), lr=1e-6)
        timer = Timer(r.device, runs, 1 if plan["rounds"] == 1 else 3)

        def forward():
            with torch.no_grad(), r.autocast(precision):
                return vifi_loss(tower, frames, text, targets, scale)

        def step():
            with r.autocast(precision):
                loss = vifi_loss(tower, frames, text, targets, scale)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=False)

        r.add("vifi-forward", shape, precision, "eager", lambda: timer.best_ms(forward), peak=True)
        r.add("vifi-train-step", shape, precision, "eager", lambda: timer.best_ms(step), peak=True)
        del tower, opt, frames


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", choices=["tiny", "full"], default="full")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--precisions", default="auto", help="fp32,bf16 (auto: both on cuda, fp32 on cpu)")
    p.add_argument("--budget-s", type=float, default=420)
    p.add_argument("--json", default="-", help="output file (default stdout)")
    p.add_argument("--list", action="store_true", help="the rows without running them (names, shapes)")
    a = p.parse_args()
    dev = a.device if a.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if dev == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)  # as onnxruntime's reference: threads = cores
    # --list builds every row's tensors on the meta device: shapes without memory or work
    device = torch.device("meta" if a.list else dev)
    plan = suite_plan(a.scale)
    r = Rows(device, plan, a.budget_s)
    r.list_only = a.list
    if a.precisions == "auto" and dev == "cpu":
        r.skip["bf16"] = "bf16 on cpu (no native bf16 GEMM; --precisions fp32,bf16 to run it)"
    torch.manual_seed(1)
    for precision in ["fp32", "bf16"] if a.precisions == "auto" else a.precisions.split(","):
        gemm_rows(r, plan, precision)
        attention_rows(r, plan, precision)
        layernorm_rows(r, plan, precision)
        model_rows(r, plan, precision)
    name = torch.cuda.get_device_name(device) if dev == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    out = dict(torch=torch.__version__, device=name, scale=a.scale,
               elapsed_s=time.perf_counter() - r.t0, rows=r.rows)
    text = json.dumps(out, indent=1)
    if a.json == "-":
        print(text)
    else:
        with open(a.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
