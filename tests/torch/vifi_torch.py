"""The PyTorch side of tests/torch/*_test.ts, written from the spec (../shared/reference/vificlip-spec.md)
and OpenAI CLIP's published structure, not from vifi's code.

    python3 vifi_torch.py files DIR     torch.save (fp32, fp16), TorchScript and ViFi-CLIP checkpoint files,
                                         plus expected.{json,bin}: the same tensors as raw float32
    python3 vifi_torch.py forward DIR   reads config.json, weights/inputs raw files; writes out.{json,bin}:
                                         video, text, logits, loss and every parameter's gradient
    python3 vifi_torch.py load DIR      loads vifi's exportPth files (openai.pt strictly into CLIP, vifi.pth
                                         non-strictly into the ViFi-CLIP wrapper, as the upstream does) and
                                         checks every tensor against DIR/weights (raw)
    python3 vifi_torch.py train DIR     20 AdamW updates on a fixed pool of batches; writes out (losses, params)
    python3 vifi_torch.py trainer DIR   the same loop on the micro-batches vifi's trainer saw (frames.E.I)
    python3 vifi_torch.py contrastive DIR  CLIP's contrastive loss on clips and their captions: loss and every
                                         gradient (out), then AdamW steps with logit_scale clamped (steps)

Raw files: NAME.json = [{"name", "shape", "dtype": "f32"|"i32", "offset"}], NAME.bin little-endian values.
"""

import json
import math
import os
import sys
import types
from collections import OrderedDict

import torch
from torch import nn
import torch.nn.functional as F

torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))


# ---------------------------------------------------------------- raw tensor files shared with the TS side


def read_raw(dir_, name):
    with open(os.path.join(dir_, name + ".json")) as f:
        index = json.load(f)
    with open(os.path.join(dir_, name + ".bin"), "rb") as f:
        blob = f.read()
    out = OrderedDict()
    for e in index:
        dtype = torch.float32 if e["dtype"] == "f32" else torch.int32
        n = math.prod(e["shape"])
        t = torch.frombuffer(bytearray(blob[e["offset"]:e["offset"] + 4 * n]), dtype=dtype)
        out[e["name"]] = t.reshape(e["shape"]).clone()
    return out


def write_raw(dir_, name, tensors):
    index, parts, offset = [], [], 0
    for k, t in tensors.items():
        t = t.detach().contiguous()
        t = t.to(torch.int32) if not t.is_floating_point() else t.to(torch.float32)
        b = t.numpy().tobytes()
        index.append({"name": k, "shape": list(t.shape), "dtype": "f32" if t.is_floating_point() else "i32",
                      "offset": offset})
        parts.append(b)
        offset += len(b)
    with open(os.path.join(dir_, name + ".json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(dir_, name + ".bin"), "wb") as f:
        f.write(b"".join(parts))


# ---------------------------------------------------------------- CLIP (OpenAI's module layout and names)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, causal_len=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, 4 * width)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(4 * width, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width)
        self.causal_len = causal_len

    def forward(self, x):  # x [L, N, W]
        mask = None
        if self.causal_len is not None:
            mask = torch.full((x.shape[0], x.shape[0]), float("-inf")).triu_(1)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, causal_len=None):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, causal_len) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, v, embed_dim):
        super().__init__()
        w, p, r = v["width"], v["patch"], v["resolution"]
        self.conv1 = nn.Conv2d(3, w, kernel_size=p, stride=p, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(w) * w ** -0.5)
        self.positional_embedding = nn.Parameter(torch.randn((r // p) ** 2 + 1, w) * w ** -0.5)
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, v["layers"], v["heads"])
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(torch.randn(w, embed_dim) * w ** -0.5)

    def forward(self, x):  # x [N, 3, R, R]
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        t, e = cfg["text"], cfg["embedDim"]
        self.visual = VisionTransformer(cfg["vision"], e)
        self.transformer = Transformer(t["width"], t["layers"], t["heads"], causal_len=t["context"])
        self.token_embedding = nn.Embedding(t["vocab"], t["width"])
        self.positional_embedding = nn.Parameter(torch.randn(t["context"], t["width"]) * 0.01)
        self.ln_final = nn.LayerNorm(t["width"])
        self.text_projection = nn.Parameter(torch.randn(t["width"], e) * t["width"] ** -0.5)
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, tokens):
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, tokens):  # what OpenAI's traced release computes
        i = F.normalize(self.encode_image(image), dim=-1)
        t = F.normalize(self.encode_text(tokens), dim=-1)
        return self.logit_scale.exp() * i @ t.t()


def vifi_forward(clip, frames, tokens):
    """ViFi-CLIP: frames [B, T, 3, R, R] → per-frame image features, mean over T, L2 norm, cosine logits."""
    B, T = frames.shape[:2]
    video = clip.encode_image(frames.reshape(B * T, *frames.shape[2:])).reshape(B, T, -1).mean(dim=1)
    video = video / video.norm(dim=-1, keepdim=True)
    text = clip.encode_text(tokens)
    text = text / text.norm(dim=-1, keepdim=True)
    return video, text, clip.logit_scale.exp() * video @ text.t()


def soft_target_cross_entropy(logits, targets):  # timm's SoftTargetCrossEntropy, as the upstream trains
    return torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()


def convert_weights(model):
    """OpenAI's clip.model.convert_weights: conv/linear/attention weights and the two projections to fp16."""

    def to_half(m):
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            m.weight.data = m.weight.data.half()
            if m.bias is not None:
                m.bias.data = m.bias.data.half()
        if isinstance(m, nn.MultiheadAttention):
            for a in [*[f"{s}_proj_weight" for s in ["in", "q", "k", "v"]], "in_proj_bias", "bias_k", "bias_v"]:
                t = getattr(m, a)
                if t is not None:
                    t.data = t.data.half()
        for name in ["text_projection", "proj"]:
            if hasattr(m, name):
                a = getattr(m, name)
                if a is not None:
                    a.data = a.data.half()

    model.apply(to_half)


# ---------------------------------------------------------------- ViFi-CLIP's training wrapper (upstream layout)


class TextEncoder(nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.transformer = clip.transformer
        self.positional_embedding = clip.positional_embedding
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection


class VLPromptLearner(nn.Module):
    """Without prompts (ViFi-CLIP fine-tuning) it keeps the class prompts' embeddings as a buffer."""

    def __init__(self, clip, tokens):
        super().__init__()
        with torch.no_grad():
            self.register_buffer("complete_text_embeddings", clip.token_embedding(tokens))


class ViFiCLIP(nn.Module):
    def __init__(self, clip, tokens):
        super().__init__()
        self.prompt_learner = VLPromptLearner(clip, tokens)
        self.image_encoder = clip.visual
        self.text_encoder = TextEncoder(clip)
        self.logit_scale = clip.logit_scale


class DDP(nn.Module):  # state-dict names as DistributedDataParallel gives them: `module.` + …
    def __init__(self, module):
        super().__init__()
        self.module = module


# yacs' CfgNode under its own module name, so the pickle names `yacs.config CfgNode` as upstream files do.
yacs = types.ModuleType("yacs")
yacs_config = types.ModuleType("yacs.config")
sys.modules["yacs"], sys.modules["yacs.config"] = yacs, yacs_config
yacs.config = yacs_config


class CfgNode(dict):
    def __init__(self, init=None):
        super().__init__({k: CfgNode(v) if isinstance(v, dict) else v for k, v in (init or {}).items()})
        self.__dict__["__immutable__"] = False
        self.__dict__["__deprecated_keys__"] = set()
        self.__dict__["__renamed_keys__"] = {}
        self.__dict__["__new_allowed__"] = False


CfgNode.__module__ = "yacs.config"
yacs_config.CfgNode = CfgNode


# ---------------------------------------------------------------- commands


def randomise(model, seed):
    """Non-trivial LayerNorm and bias values, so a swapped weight/bias or a dropped bias shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name or name.startswith("ln_") or "bias" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if name.endswith("weight") else 0.0))


def files(dir_):
    torch.manual_seed(7)
    cfg = json.load(open(os.path.join(dir_, "config.json")))
    clip = CLIP(cfg)
    randomise(clip, 8)
    sd = clip.state_dict()
    torch.save(sd, os.path.join(dir_, "clip_fp32.pt"))
    write_raw(dir_, "expected_fp32", sd)

    half = CLIP(cfg)
    half.load_state_dict(sd)
    convert_weights(half)
    hsd = half.state_dict()
    torch.save(hsd, os.path.join(dir_, "clip_fp16.pt"))
    write_raw(dir_, "expected_fp16", OrderedDict((k, v.float()) for k, v in hsd.items()))
    json.dump({k: str(v.dtype).replace("torch.", "") for k, v in hsd.items()},
              open(os.path.join(dir_, "fp16_dtypes.json"), "w"))

    ctx, vocab, res = cfg["text"]["context"], cfg["text"]["vocab"], cfg["vision"]["resolution"]
    tokens = torch.zeros(2, ctx, dtype=torch.long)
    tokens[:, 0], tokens[0, 1:4], tokens[0, 4] = vocab - 2, torch.tensor([5, 6, 7]), vocab - 1
    tokens[1, 1], tokens[1, 2] = 9, vocab - 1
    image = torch.randn(2, 3, res, res)
    traced = torch.jit.trace(clip.eval(), (image, tokens))
    torch.jit.save(traced, os.path.join(dir_, "clip_jit.pt"))

    # A ViFi-CLIP training checkpoint as its main.py saves one after a few steps of AdamW.
    model = DDP(ViFiCLIP(clip, tokens))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-6, betas=(0.9, 0.98),
                            eps=1e-8, weight_decay=0.001)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    logits = vifi_forward(clip, image.reshape(1, 2, 3, res, res), tokens)[2]
    soft_target_cross_entropy(logits, torch.tensor([[0.9, 0.1]])).backward()
    opt.step()
    sched.step()
    msd = model.state_dict()
    write_raw(dir_, "expected_vifi", msd)
    write_raw(dir_, "expected_adamw", OrderedDict(
        (f"{i}.{k}", v) for i, st in opt.state_dict()["state"].items() for k, v in st.items()))
    config = CfgNode({"DATA": {"NUM_FRAMES": 2, "NUM_CLASSES": 2},
                      "TRAIN": {"BATCH_SIZE": 4, "ACCUMULATION_STEPS": 2, "LR": 2e-6, "EPOCHS": 10},
                      "MODEL": {"ARCH": "ViT-B/16"}})
    torch.save({"model": msd, "optimizer": opt.state_dict(), "lr_scheduler": sched.state_dict(),
                "max_accuracy": 12.5, "epoch": 3, "config": config}, os.path.join(dir_, "ckpt_epoch_3.pth"))


def forward(dir_):
    cfg = json.load(open(os.path.join(dir_, "config.json")))
    clip = CLIP(cfg)
    weights = read_raw(dir_, "weights")
    clip.load_state_dict(weights, strict=True)
    inputs = read_raw(dir_, "inputs")
    video, text, logits = vifi_forward(clip, inputs["frames"], inputs["tokens"].long())
    loss = soft_target_cross_entropy(logits, inputs["targets"])
    loss.backward()
    out = OrderedDict([("video", video), ("text", text), ("logits", logits), ("loss", loss)])
    for name, p in clip.named_parameters():
        if p.grad is not None and name != "token_embedding.weight":
            out["grad." + name] = p.grad
    write_raw(dir_, "out", out)


def clip_loss(clip, frames, tokens):
    """CLIP's symmetric InfoNCE as open_clip's ClipLoss: caption i belongs to clip i, the rest of the batch
    are negatives; cross-entropy of logits_per_image and of logits_per_text, averaged."""
    logits_per_image = vifi_forward(clip, frames, tokens)[2]
    labels = torch.arange(logits_per_image.shape[0])
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_image.t(), labels)) / 2


def contrastive(dir_):
    """The loss and gradients at the given weights, then run.json's AdamW steps, logit_scale clamped to
    [0, ln 100] after each as CLIP's pretraining does (open_clip's train_one_epoch)."""
    cfg = json.load(open(os.path.join(dir_, "config.json")))
    run = json.load(open(os.path.join(dir_, "run.json")))
    clip = CLIP(cfg)
    clip.load_state_dict(read_raw(dir_, "weights"), strict=True)
    clip.token_embedding.weight.requires_grad_(False)
    inputs = read_raw(dir_, "inputs")
    frames, tokens = inputs["frames"], inputs["tokens"].long()
    loss = clip_loss(clip, frames, tokens)
    loss.backward()
    out = OrderedDict([("loss", loss)])
    out.update(("grad." + n, p.grad) for n, p in clip.named_parameters() if p.grad is not None)
    write_raw(dir_, "out", out)

    params = [p for p in clip.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=run["lr"], betas=(0.9, 0.98), eps=1e-8, weight_decay=run["weightDecay"])
    losses, scales = [], []
    for _ in range(run["steps"]):
        opt.zero_grad()
        loss = clip_loss(clip, frames, tokens)
        loss.backward()
        opt.step()
        with torch.no_grad():
            clip.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())
        scales.append(clip.logit_scale.item())
    steps = OrderedDict([("losses", torch.tensor(losses)), ("scales", torch.tensor(scales))])
    steps.update(clip.named_parameters())
    write_raw(dir_, "steps", steps)


def timm_cosine_lr(t, lr, t_initial, warmup_t, lr_min):
    """timm's CosineLRScheduler._get_lr with ViFi-CLIP's arguments (warmup_lr_init 0, warmup_prefix off,
    cycle_limit 1, t_in_epochs False): linear warmup, then a cosine over the whole run, then lr_min."""
    if t < warmup_t:
        return t * lr / warmup_t
    if t >= t_initial:
        return lr_min
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * t / t_initial))


def train(dir_):
    """ViFi-CLIP main.py's train_one_epoch on a fixed pool of batches (tests/torch/training_test.ts)."""
    data = read_raw(dir_, "inputs")
    run = json.load(open(os.path.join(dir_, "train.json")))

    def batch_of(epoch, idx):
        k = (epoch * run["itersPerEpoch"] + idx) % run["pool"]
        return data[f"frames.{k}"], data[f"labels.{k}"]

    train_loop(dir_, data, batch_of)


def trainer(dir_):
    """The same loop on the batches vifi's loader gave the trainer, micro-batch `idx` of `epoch` stored as
    frames.EPOCH.IDX / labels.EPOCH.IDX (tests/torch/trainer_parity_test.ts)."""
    data = read_raw(dir_, "inputs")
    train_loop(dir_, data, lambda epoch, idx: (data[f"frames.{epoch}.{idx}"], data[f"labels.{epoch}.{idx}"]))


def train_loop(dir_, data, batch_of):
    """ViFi-CLIP main.py's train_one_epoch: loss / ACCUMULATION_STEPS, backward, an AdamW step and
    zero_grad every ACCUMULATION_STEPS iterations, then lr_scheduler.step_update(epoch·n + idx); zero_grad
    at each epoch's start drops a trailing partial accumulation."""
    cfg = json.load(open(os.path.join(dir_, "config.json")))
    run = json.load(open(os.path.join(dir_, "train.json")))
    clip = CLIP(cfg)
    clip.load_state_dict(read_raw(dir_, "weights"), strict=True)
    clip.token_embedding.weight.requires_grad_(False)  # the upstream's wrapper never holds it
    tokens = data["tokens"].long()
    C, A = run["classes"], run["accumulation"]
    n, epochs = run["itersPerEpoch"], run["epochs"]
    lr_max = run["lr"]
    sched = dict(lr=lr_max, t_initial=epochs * n, warmup_t=run["warmupEpochs"] * n, lr_min=lr_max / 100)
    params = [p for p in clip.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr_max, betas=(0.9, 0.98), eps=1e-8, weight_decay=run["weightDecay"])
    for g in opt.param_groups:  # timm: warmup_lr_init at construction when there is a warmup
        g["lr"] = 0.0 if sched["warmup_t"] > 0 else timm_cosine_lr(0, **sched)
    s = run["smoothing"]
    losses = []
    for epoch in range(epochs):
        opt.zero_grad()
        for idx in range(n):
            frames, labels = batch_of(epoch, idx)
            labels = labels.long()
            targets = torch.full((labels.shape[0], C), s / C)
            targets[torch.arange(labels.shape[0]), labels] = 1 - s + s / C
            logits = vifi_forward(clip, frames, tokens)[2]
            loss = soft_target_cross_entropy(logits, targets) / A
            loss.backward()
            losses.append(loss.item())
            if (idx + 1) % A == 0:
                opt.step()
                opt.zero_grad()
                for g in opt.param_groups:
                    g["lr"] = timm_cosine_lr(epoch * n + idx, **sched)
    out = OrderedDict([("losses", torch.tensor(losses))])
    for name, p in clip.named_parameters():
        out[name] = p
    write_raw(dir_, "out", out)


def load(dir_):
    cfg = json.load(open(os.path.join(dir_, "config.json")))
    want = read_raw(dir_, "weights")
    clip = CLIP(cfg)
    clip.load_state_dict(torch.load(os.path.join(dir_, "openai.pt")), strict=True)
    for name, t in clip.state_dict().items():
        if not torch.equal(t, want[name]):
            raise SystemExit(f"openai.pt: {name} differs after load_state_dict")

    clip2 = CLIP(cfg)
    tokens = torch.zeros(1, cfg["text"]["context"], dtype=torch.long)
    model = DDP(ViFiCLIP(clip2, tokens))
    ckpt = torch.load(os.path.join(dir_, "vifi.pth"), map_location="cpu")
    sd = ckpt["model"]
    # ViFi-CLIP's load_checkpoint: drop the label-set buffers, then a non-strict load.
    for k in ["module.prompt_learner.token_prefix", "module.prompt_learner.token_suffix",
              "module.prompt_learner.complete_text_embeddings"]:
        sd.pop(k, None)
    msg = model.load_state_dict(sd, strict=False)
    if msg.unexpected_keys:
        raise SystemExit(f"vifi.pth: unexpected keys {msg.unexpected_keys}")
    missing = [k for k in msg.missing_keys if k != "module.prompt_learner.complete_text_embeddings"]
    if missing:
        raise SystemExit(f"vifi.pth: missing keys {missing}")
    got = clip2.state_dict()
    for name, t in want.items():
        if name == "token_embedding.weight":
            continue
        if not torch.equal(got[name], t):
            raise SystemExit(f"vifi.pth: {name} differs after the upstream's load")
    print(json.dumps({"openai": len(clip.state_dict()), "vifi": len(sd), "epoch": ckpt.get("epoch")}))


if __name__ == "__main__":
    commands = {"files": files, "forward": forward, "load": load, "train": train, "trainer": trainer,
                "contrastive": contrastive}
    commands[sys.argv[1]](sys.argv[2])
