"""Goldens for `sdlora probe train-step` (tests/check_probe_train.sh): one kohya LoRA training
step on the tiny diffusers model, re-stated in PyTorch.

Model: tests/golden/checkpoints/tiny-diffusers (diffusers UNet2DConditionModel, transformers
CLIPTextModel with eager attention), run in float64.

LoRA: kohya-style modules written here (kohya-spec.md §1.2–1.3): every Linear/Conv2d inside the
target classes (UNet Transformer2DModel; with conv_dim also ResnetBlock2D, Downsample2D,
Upsample2D — 3x3 convs at conv_dim/conv_alpha, the rest at network_dim/network_alpha; text
encoder CLIPAttention/CLIPMLP), named "lora_unet_" / "lora_te_" + the module path with '_';
the original forward is replaced by org(x) + up(down(x)) · multiplier · alpha/rank, as kohya's
LoRAModule.apply_to does (down: Linear(in, r) or Conv2d(in, r, k, stride, padding) of the
original; up: Linear(r, out) or 1x1 Conv2d).

Step (kohya-spec.md §3.3–3.7, NetworkTrainer.process_batch): input_ids (B, n, 77) → (B·n, 77)
through CLIP (clip_skip k ≥ 2: final_layer_norm(hidden_states[-k])) → (B, 77n, D), windows
joined as kohya does for n > 1 (BOS state of window 0, states 1..75 of each window, the last
state of the last window), × token weights (weighted captions); noisy = √ᾱ·x0 + √(1−ᾱ)·noise
(ᾱ: diffusers' float32 DDPMScheduler table, zero terminal SNR as kohya); UNet(noisy, t,
context); target = noise or √ᾱ·noise − √(1−ᾱ)·x0; elementwise loss (l2 / l1 / huber /
smooth_l1 with kohya's huber_c schedules) → mean over (C, H, W) → × loss_weights → SNR
post-processing (all_snr of the original schedule) → mean; backward.

Writes tests/golden/train_step/<case>.safetensors: the probe's inputs (latents, noise,
timesteps I64, input_ids I64, loss_weights, token_weights), the reference loss (1) and pred
(F32 from float64), and the LoRA flat in module order: lora.init (F16: the reference starts
from the F16-rounded values, so nothing is lost), lora.alpha (one per module), lora.grad (F32);
metadata "lora_modules" = "name|down shape|up shape;…" (that order), "args" = the probe's
options for the case. tests/tool_train_golden.c expands a case into the probe's named input
(<lora name>.lora_down.weight, …) and reference outputs (<lora name>.lora_down.weight.grad, …).

Usage: tools/oracle/.venv/bin/python tools/oracle/make_train_step_goldens.py
"""
import math
import os
import sys

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel

sys.path.insert(0, os.path.dirname(__file__))
import golden_io  # noqa: E402

golden_io._DTYPES.setdefault(torch.float16, "F16")  # the LoRA inputs are stored in F16

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "tests/golden/checkpoints/tiny-diffusers")
OUT = os.path.join(ROOT, "tests/golden/train_step")

UNET_T = ["Transformer2DModel"]
UNET_CONV = ["ResnetBlock2D", "Downsample2D", "Upsample2D"]
TE_T = ["CLIPAttention", "CLIPSdpaAttention", "CLIPMLP"]


class LoRAModule(torch.nn.Module):
    """kohya's LoRAModule at multiplier 1 without dropout, float64."""

    def __init__(self, name, org, rank, alpha, gen):
        super().__init__()
        self.name, self.org_forward = name, org.forward
        self.scale = alpha / rank
        self.is_conv = isinstance(org, torch.nn.Conv2d)
        if self.is_conv:
            self.stride, self.padding = org.stride, org.padding
            kh, kw = org.kernel_size
            down = torch.randn(rank, org.in_channels, kh, kw, generator=gen) / math.sqrt(org.in_channels * kh * kw)
            up = torch.randn(org.out_channels, rank, 1, 1, generator=gen) * 0.3
        else:
            down = torch.randn(rank, org.in_features, generator=gen) / math.sqrt(org.in_features)
            up = torch.randn(org.out_features, rank, generator=gen) * 0.3
        # stored as F16 in the golden: the reference starts from exactly those values
        self.down = torch.nn.Parameter(down.half().double())
        self.up = torch.nn.Parameter(up.half().double())
        self.alpha = alpha
        org.forward = self.forward  # kohya apply_to

    def forward(self, x):
        if self.is_conv:
            h = F.conv2d(x, self.down, stride=self.stride, padding=self.padding)
            lx = F.conv2d(h, self.up)
        else:
            lx = F.linear(F.linear(x, self.down), self.up)
        return self.org_forward(x) + lx * 1.0 * self.scale


def apply_lora(root, prefix, classes, dim, alpha, conv_dim, conv_alpha, gen):
    mods = []
    for name, module in root.named_modules():
        if module.__class__.__name__ not in classes:
            continue
        for child_name, child in module.named_modules():
            if child.__class__.__name__ not in ("Linear", "Conv2d"):
                continue
            one = isinstance(child, torch.nn.Linear) or child.kernel_size == (1, 1)
            if one:
                r, a = dim, alpha
            elif conv_dim:
                r, a = conv_dim, conv_alpha
            else:
                continue
            lora_name = (prefix + "." + name + "." + child_name).replace(".", "_")
            mods.append(LoRAModule(lora_name, child, r, a, gen))
    return mods


def make_scheduler(zero_terminal_snr):
    s = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                      clip_sample=False)
    all_snr = (torch.sqrt(s.alphas_cumprod) / torch.sqrt(1.0 - s.alphas_cumprod)) ** 2
    ac = s.alphas_cumprod
    if zero_terminal_snr:
        abar_sqrt = (1 - s.betas).cumprod(0).sqrt()
        first, last = abar_sqrt[0].clone(), abar_sqrt[-1].clone()
        abar_sqrt = (abar_sqrt - last) * (first / (first - last))
        abar = abar_sqrt ** 2
        alphas = torch.cat([abar[0:1], abar[1:] / abar[:-1]])
        ac = torch.cumprod(1.0 - (1 - alphas), dim=0)
    return ac, all_snr


def encode(te, ids, clip_skip, token_weights):
    B, n, T = ids.shape
    out = te(ids.reshape(B * n, T), output_hidden_states=True)
    h = out.last_hidden_state if clip_skip <= 1 else te.text_model.final_layer_norm(out.hidden_states[-clip_skip])
    h = h.reshape(B, n * T, -1)
    if n > 1:  # kohya's join of the 77-token windows
        parts = [h[:, :1]] + [h[:, i * T + 1: i * T + T - 1] for i in range(n)] + [h[:, -1:]]
        h = torch.cat(parts, dim=1)
    if token_weights is not None:  # encode_tokens_with_weights
        w = token_weights.double()
        if n == 1:
            h = h * w[:, 0].unsqueeze(-1)
        else:
            h = h.clone()
            for i in range(n):
                h[:, i * 75 + 1: i * 75 + 76] = h[:, i * 75 + 1: i * 75 + 76] * w[:, i, 1:76].unsqueeze(-1)
    return h


def kohya_loss(c, pred, target, t, ac, all_snr, loss_weights):
    d = pred - target
    if c["loss_type"] in ("huber", "smooth_l1"):
        hc_base, sched = c.get("huber_c", 0.1), c.get("huber_schedule", "snr")
        if sched == "exponential":
            hc = torch.exp(-(-math.log(hc_base) / 1000) * t.double()) * c.get("huber_scale", 1.0)
        elif sched == "snr":
            a = ac.double()[t]
            hc = (1 - hc_base) / (1 + ((1.0 - a) / a) ** 0.5) ** 2 + hc_base
        else:
            hc = torch.full(t.shape, hc_base * c.get("huber_scale", 1.0), dtype=torch.float64)
        hc = hc.view(-1, 1, 1, 1)
        root = torch.sqrt(d ** 2 + hc ** 2) - hc
        el = 2 * hc * root if c["loss_type"] == "huber" else 2 * root
    elif c["loss_type"] == "l1":
        el = d.abs()
    else:
        el = d ** 2
    loss = el.mean([1, 2, 3]) * loss_weights.double()
    snr = all_snr.double()[t]
    capped = torch.minimum(snr, torch.full_like(snr, 1000.0))
    v = c.get("v", False)
    if c.get("min_snr_gamma"):
        m = torch.minimum(snr, torch.full_like(snr, c["min_snr_gamma"]))
        loss = loss * (m / (snr + 1) if v else m / snr)
    if c.get("scale_v_pred"):
        loss = loss * capped / (capped + 1)
    if c.get("v_pred_like_loss"):
        loss = loss + loss / (capped / (capped + 1)) * c["v_pred_like_loss"]
    if c.get("debiased"):
        loss = loss * (1 / (capped + 1) if v else 1 / torch.sqrt(capped))
    return loss.mean()


CASES = [
    # name, options: LoRA, text, objective
    ("eps_l2_min_snr", dict(dim=3, alpha=2.0, te=True, unet=True, clip_skip=1, n=1, loss_type="l2", min_snr_gamma=5.0,
                            t=[37, 612], loss_weights=[1.0, 0.5])),
    ("v_huber_skip2_150", dict(dim=2, alpha=1.0, te=True, unet=True, clip_skip=2, n=2, loss_type="huber", v=True,
                               huber_c=0.1, t=[3, 981], token_weights=True, scale_v_pred=True)),
    ("locon_smooth_l1_ztsnr", dict(dim=1, alpha=1.0, conv_dim=1, conv_alpha=0.5, te=False, unet=True, clip_skip=1, n=1,
                                   loss_type="smooth_l1", huber_schedule="exponential", huber_c=0.2, ztsnr=True,
                                   debiased=True, t=[999, 250])),
    ("te_only_l1_225", dict(dim=4, alpha=4.0, te=True, unet=False, clip_skip=2, n=3, loss_type="l1", v_pred_like_loss=0.1,
                            t=[500, 120])),
]


def probe_args(c):
    a = [f"--network_dim {c['dim']}", f"--network_alpha {c['alpha']}", f"--clip_skip {c['clip_skip']}",
         f"--max_token_length {75 * c['n']}", f"--loss_type {c['loss_type']}"]
    if c.get("conv_dim"):
        a += [f"--conv_dim {c['conv_dim']}", f"--conv_alpha {c['conv_alpha']}"]
    if not c["te"]:
        a.append("--network_train_unet_only")
    if not c["unet"]:
        a.append("--network_train_text_encoder_only")
    if c.get("v"):
        a.append("--v_parameterization")
    if c.get("ztsnr"):
        a.append("--zero_terminal_snr")
    if c["loss_type"] in ("huber", "smooth_l1"):
        a += [f"--huber_schedule {c.get('huber_schedule', 'snr')}", f"--huber_c {c.get('huber_c', 0.1)}"]
    for k, opt in (("min_snr_gamma", "--min_snr_gamma"), ("v_pred_like_loss", "--v_pred_like_loss")):
        if c.get(k):
            a.append(f"{opt} {c[k]}")
    if c.get("scale_v_pred"):
        a.append("--scale_v_pred_loss_like_noise_pred")
    if c.get("debiased"):
        a.append("--debiased_estimation_loss")
    return " ".join(a)


def run_case(index, name, c):
    gen = torch.Generator().manual_seed(9000 + index)
    unet = UNet2DConditionModel.from_pretrained(MODEL, subfolder="unet").double().eval()
    te = CLIPTextModel.from_pretrained(MODEL, subfolder="text_encoder", attn_implementation="eager").double().eval()
    for p in list(unet.parameters()) + list(te.parameters()):
        p.requires_grad_(False)
    mods = []
    if c["te"]:
        mods += apply_lora(te, "lora_te", TE_T, c["dim"], c["alpha"], 0, 0, gen)
    if c["unet"]:
        classes = UNET_T + (UNET_CONV if c.get("conv_dim") else [])
        mods += apply_lora(unet, "lora_unet", classes, c["dim"], c["alpha"], c.get("conv_dim", 0), c.get("conv_alpha", 0),
                           gen)

    B, n = 2, c["n"]
    latents = torch.randn(B, 4, 8, 8, generator=gen)
    noise = torch.randn(B, 4, 8, 8, generator=gen)
    t = torch.tensor(c["t"], dtype=torch.int64)
    ids = torch.randint(3, te.config.vocab_size, (B, n, 77), generator=gen)
    ids[:, :, 0] = 0  # BOS of the tiny vocabulary, then EOS and padding after a few tokens
    ids[0, -1, 40:] = 2
    loss_weights = torch.tensor(c.get("loss_weights", [1.0] * B))
    token_weights = None
    if c.get("token_weights"):
        token_weights = torch.ones(B, n, 77)
        token_weights[:, :, 5:12] = 1.21
        token_weights[1, -1, 20:30] = 0.9

    ac, all_snr = make_scheduler(c.get("ztsnr", False))
    a = ac.double()[t].view(-1, 1, 1, 1)
    noisy = a.sqrt() * latents.double() + (1 - a).sqrt() * noise.double()
    target = a.sqrt() * noise.double() - (1 - a).sqrt() * latents.double() if c.get("v") else noise.double()

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # transformers' causal mask uses the default dtype
    try:
        ctx = encode(te, ids, c["clip_skip"], token_weights)
        pred = unet(noisy, t.double(), encoder_hidden_states=ctx).sample
        loss = kohya_loss(c, pred, target, t, ac, all_snr, loss_weights)
        loss.backward()
    finally:
        torch.set_default_dtype(old)

    # one compact file per case: per-module tensors would be mostly JSON header (~140 bytes
    # an entry, 5 entries a module); tests/tool_train_golden.c expands it into the probe's
    # named input and the reference output
    out = {"latents": latents, "noise": noise, "timesteps": t, "input_ids": ids.to(torch.int64),
           "loss_weights": loss_weights, "loss": loss.detach().float().reshape(1), "pred": pred.detach().float()}
    if token_weights is not None:
        out["token_weights"] = token_weights
    init, grad, alpha, listing = [], [], [], []
    for m in mods:
        # modules that do not influence the loss (the last CLIP layer under clip_skip 2) get no
        # gradient in torch (None): sdlora leaves theirs at zero
        for p in (m.down, m.up):
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        init += [m.down.detach().half().flatten(), m.up.detach().half().flatten()]
        grad += [m.down.grad.float().flatten(), m.up.grad.float().flatten()]
        alpha.append(float(m.alpha))
        shape = lambda x: ",".join(str(d) for d in x.shape)  # noqa: E731
        listing.append(f"{m.name}|{shape(m.down)}|{shape(m.up)}")
    out["lora.init"] = torch.cat(init)
    out["lora.grad"] = torch.cat(grad)
    out["lora.alpha"] = torch.tensor(alpha, dtype=torch.float32)
    meta = {"args": probe_args(c), "case": name, "torch": torch.__version__, "lora_modules": ";".join(listing),
            "loss": f"{loss.item():.9g}"}
    golden_io.save_sorted(out, os.path.join(OUT, f"{name}.safetensors"), meta)
    gmax = max(float(m.down.grad.abs().max()) for m in mods)
    print(f"{name}: {len(mods)} modules, loss {loss.item():.6g}, max |grad down| {gmax:.3g}")


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, (name, c) in enumerate(CASES):
        run_case(i, name, c)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT}: {total / 1024:.0f} KB")


if __name__ == "__main__":
    main()
