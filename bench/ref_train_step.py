#!/usr/bin/env python3
"""ref_train_step.py — the PyTorch reference for issue 7's side-by-side benchmark.

One SD1.5 LoRA training step as kohya's sd-scripts runs it (train_network.py, default LoRA
network), written against diffusers' UNet2DConditionModel so it needs no sd-scripts checkout:

  * UNet2DConditionModel with the SD1.5 config (from a config dict, random init, fp32), the
    CLIP ViT-L/14 text encoder (transformers CLIPTextModel, SD1.5 config, frozen, forward under
    no_grad each step as kohya does without --cache_text_encoder_outputs);
  * kohya-style LoRA modules (defined below): rank R, alpha R, on every nn.Linear and 1x1
    nn.Conv2d inside a Transformer2DModel (kohya's UNET_TARGET_REPLACE_MODULE; 192 modules for
    SD1.5), forward org(x) + up(down(x)) * multiplier * alpha/R, the original module's forward
    replaced in place (kohya's apply_to);
  * frozen base weights, batch 1, noise added at a fixed timestep (DDPM scaled_linear schedule),
    MSE loss against the noise, backward, clip_grad_norm_(1.0), torch.optim.AdamW (lr 1e-4,
    kohya's default optimizer), zero_grad(set_to_none=True).

Modes: train (the step above), unet_infer (UNet forward under no_grad, batch 1 or 2 as with
CFG), vae_encode / vae_decode (AutoencoderKL, SD config, one image of latent*8 pixels).

Prints one JSON line on stdout: median / best seconds per call (1 untimed warm-up + --steps
timed), peak RSS (getrusage ru_maxrss), the analytic FLOP count of the work (counted on the
meta device with forward hooks: 2*M*N*K per conv/linear, 4*B*Tq*Tk*inner per attention core;
backward = what autograd must do with frozen base weights: input gradients of a layer only
where its input requires grad, weight gradients only for LoRA, attention core backward 2x its
forward), and which BLAS / oneDNN / CPU kernels torch uses plus torch's own measured sgemm
(2048^3) GFLOP/s, so a slow (netlib) BLAS is visible at once.

Run with the oracle venv (torch 2.5.1 PyPI wheel: MKL 2024.2 for BLAS, oneDNN 3.5.3 for
convolutions, both statically linked into libtorch_cpu):
  tools/oracle/.venv/bin/python bench/ref_train_step.py --mode train --latent 64 --rank 32
"""
import argparse
import json
import math
import os
import platform
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="The value of the smallest subnormal")  # numpy, under flush-denormal
P = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
P.add_argument("--mode", choices=["train", "unet_infer", "vae_encode", "vae_decode"], default="train")
P.add_argument("--latent", type=int, default=64, help="square latent size (32, 48, 64 = 256/384/512 px); VAE modes use latent*8 pixels")
P.add_argument("--rank", type=int, default=32, help="LoRA rank (alpha = rank), train mode")
P.add_argument("--batch", type=int, default=1, help="batch (unet_infer: 2 = CFG-style; train/vae: 1)")
P.add_argument("--gradient_checkpointing", action="store_true", help="unet.enable_gradient_checkpointing() (train mode)")
P.add_argument("--steps", type=int, default=3, help="timed calls after 1 untimed warm-up (default 3)")
P.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
P.add_argument("--attention", choices=["sdpa", "vanilla"], default="sdpa",
               help="diffusers AttnProcessor2_0 (F.scaled_dot_product_attention, default) or AttnProcessor "
                    "(baddbmm + softmax + bmm, as torch 1.13 / kohya without --sdpa/--xformers)")
P.add_argument("--no_text_encoder", action="store_true", help="train mode: random context instead of a CLIP forward per step")
P.add_argument("--isa", choices=["auto", "avx2", "native"], default="auto",
               help="avx2: pin MKL, oneDNN and ATen to AVX2 kernels; native: let them pick (AVX-512 where the CPU has it); "
                    "auto: avx2 when OPENBLAS_CORETYPE pins sdlora's OpenBLAS to an AVX2 core (Haswell, Zen), else native")
P.add_argument("--count_only", action="store_true", help="print the FLOP count (meta device, no compute) and exit")
args = P.parse_args()
if args.latent < 8 or args.latent % 8:
    P.error("--latent must be a positive multiple of 8")
if args.steps < 1:
    P.error("--steps must be >= 1")
if args.mode != "unet_infer" and args.batch != 1:
    P.error("--batch > 1 only in unet_infer mode")

# Kernel selection and threads must be fixed before torch (MKL, oneDNN, OpenMP) initialises.
ISA_VARS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
isa = args.isa
if isa == "auto":
    isa = "avx2" if os.environ.get("OPENBLAS_CORETYPE", "").lower() in ("haswell", "zen") else "native"
for k, v in ISA_VARS.items():
    if isa == "avx2":
        os.environ[k] = v
    else:
        os.environ.pop(k, None)
os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ["MKL_NUM_THREADS"] = str(args.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass
torch.set_flush_denormal(True)  # the reference's best case: no denormal slow paths

from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel  # noqa: E402
from diffusers.models.attention_processor import Attention, AttnProcessor, AttnProcessor2_0  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Models (configs as in runwayml/stable-diffusion-v1-5's unet/, vae/, text_encoder/ config.json)

UNET_SD15 = dict(
    sample_size=64, in_channels=4, out_channels=4, center_input_sample=False, flip_sin_to_cos=True, freq_shift=0,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    block_out_channels=[320, 640, 1280, 1280], layers_per_block=2, downsample_padding=1, mid_block_scale_factor=1,
    act_fn="silu", norm_num_groups=32, norm_eps=1e-5, cross_attention_dim=768, attention_head_dim=8)
VAE_SD = dict(
    in_channels=3, out_channels=3, latent_channels=4, sample_size=512, layers_per_block=2, act_fn="silu",
    norm_num_groups=32, block_out_channels=[128, 256, 512, 512],
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)


def build_unet():
    u = UNet2DConditionModel.from_config(UNET_SD15)
    u.set_attn_processor(AttnProcessor2_0() if args.attention == "sdpa" else AttnProcessor())
    return u


def build_vae():
    v = AutoencoderKL.from_config(VAE_SD)
    v.set_attn_processor(AttnProcessor2_0() if args.attention == "sdpa" else AttnProcessor())
    return v


def build_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel
    cfg = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                         num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                         projection_dim=768, bos_token_id=49406, eos_token_id=49407, pad_token_id=1)
    cfg._attn_implementation = "sdpa" if args.attention == "sdpa" else "eager"
    return CLIPTextModel(cfg)


# ---------------------------------------------------------------------------------------------
# kohya-style LoRA (networks/lora.py semantics, written here)

class LoRAModule(nn.Module):
    def __init__(self, lora_name, org_module, rank, alpha):
        super().__init__()
        self.lora_name = lora_name
        if isinstance(org_module, nn.Conv2d):
            self.lora_down = nn.Conv2d(org_module.in_channels, rank, org_module.kernel_size, org_module.stride,
                                       org_module.padding, bias=False)
            self.lora_up = nn.Conv2d(rank, org_module.out_channels, (1, 1), (1, 1), bias=False)
        else:
            self.lora_down = nn.Linear(org_module.in_features, rank, bias=False)
            self.lora_up = nn.Linear(rank, org_module.out_features, bias=False)
        self.scale = alpha / rank
        self.multiplier = 1.0
        nn.init.kaiming_uniform_(self.lora_down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_up.weight)
        self.org_module = [org_module]  # a list keeps it out of this module's parameters

    def apply_to(self):
        org = self.org_module[0]
        self.org_forward = org.forward
        org.forward = self.forward

    def forward(self, x):
        return self.org_forward(x) + self.lora_up(self.lora_down(x)) * self.multiplier * self.scale


def create_lora(unet, rank, alpha):
    mods = []
    for name, module in unet.named_modules():
        if module.__class__.__name__ != "Transformer2DModel":
            continue
        for child_name, child in module.named_modules():
            is_linear = child.__class__.__name__ == "Linear"
            is_conv1x1 = child.__class__.__name__ == "Conv2d" and tuple(child.kernel_size) == (1, 1)
            if is_linear or is_conv1x1:
                lora_name = ("lora_unet." + name + "." + child_name).replace(".", "_")
                mods.append(LoRAModule(lora_name, child, rank, alpha))
    net = nn.ModuleList(mods)
    for m in mods:
        m.apply_to()
    return net


# ---------------------------------------------------------------------------------------------
# FLOP count (forward hooks on the meta device: shapes only, no compute, no memory)

class FlopCounter:
    def __init__(self):
        self.fwd, self.bwd = {}, {}
        self.lora_ids, self.te_ids = set(), set()

    def _add(self, d, k, v):
        d[k] = d.get(k, 0.0) + v

    def category(self, m):
        if id(m) in self.lora_ids:
            return "lora"
        if id(m) in self.te_ids:
            return "text_encoder"
        if isinstance(m, nn.Conv2d):
            return "conv1x1" if tuple(m.kernel_size) == (1, 1) else "conv%dx%d" % tuple(m.kernel_size)
        return "linear"

    def gemm_hook(self, m, inp, out):
        x = inp[0]
        if isinstance(m, nn.Linear):
            f = 2.0 * out.numel() * m.in_features
        else:
            kh, kw = m.kernel_size
            f = 2.0 * out.numel() * (m.in_channels // m.groups) * kh * kw
        c = self.category(m)
        self._add(self.fwd, c, f)
        if x.requires_grad:
            self._add(self.bwd, c + " dx", f)
        if m.weight.requires_grad:
            self._add(self.bwd, c + " dw", f)

    def attn_hook(self, m, a, kw, out):
        hs = a[0] if a else kw["hidden_states"]
        ehs = kw.get("encoder_hidden_states")
        if ehs is None and len(a) > 1 and isinstance(m, Attention):
            ehs = a[1]  # diffusers Attention.forward(hidden_states, encoder_hidden_states, ...)
        B = hs.shape[0]
        Tq = hs.shape[1] if hs.dim() == 3 else hs.shape[2] * hs.shape[3]
        Tk = Tq if ehs is None else ehs.shape[1]
        inner = getattr(m, "inner_dim", None) or m.embed_dim
        f = 4.0 * B * Tq * Tk * inner  # QK^T and PV
        c = "text_encoder" if id(m) in self.te_ids else "attention"
        self._add(self.fwd, c, f)
        o = out[0] if isinstance(out, tuple) else out
        if o.requires_grad:
            self._add(self.bwd, c, 2.0 * f)  # dS = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q

    def attach(self, model):
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.register_forward_hook(self.gemm_hook)
            elif isinstance(m, Attention) or (m.__class__.__name__.endswith("Attention") and hasattr(m, "q_proj")):
                m.register_forward_hook(self.attn_hook, with_kwargs=True)

    def summary(self):
        g = lambda d: {k: round(v * 1e-9, 3) for k, v in sorted(d.items())}  # noqa: E731
        tf, tb = sum(self.fwd.values()), sum(self.bwd.values())
        return {"total": round((tf + tb) * 1e-9, 3), "forward": round(tf * 1e-9, 3), "backward": round(tb * 1e-9, 3),
                "forward_by_kind": g(self.fwd), "backward_by_kind": g(self.bwd)}


# ---------------------------------------------------------------------------------------------
# The work for each mode: setup(device) -> (call, info); call() runs once and returns phase times

def token_ids(B, device):
    ids = torch.full((B, 77), 49407, dtype=torch.long, device=device)  # pad = eos, as SD1.5's tokenizer
    ids[:, 0] = 49406
    ids[:, 1:12] = torch.arange(321, 332, device=device)
    return ids


def setup(device, counter=None):
    S, B = args.latent, args.batch
    info = {}
    gen = None if device == "meta" else torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, device=device)

    if args.mode in ("vae_encode", "vae_decode"):
        vae = build_vae().eval().requires_grad_(False)
        if counter:
            counter.attach(vae)
        img = randn(1, 3, 8 * S, 8 * S).clamp_(-1, 1)
        z = randn(1, 4, S, S)

        def call():
            t0 = time.perf_counter()
            with torch.no_grad():
                if args.mode == "vae_encode":
                    d = vae.encode(img).latent_dist
                    out = d.mean
                else:
                    out = vae.decode(z).sample
            if device != "meta":
                info["check"] = float(out.float().abs().mean())
            return {"total": time.perf_counter() - t0}
        return call, info

    unet = build_unet()
    unet.requires_grad_(False)
    if args.mode == "unet_infer":
        unet.eval()
        if counter:
            counter.attach(unet)
        lat, ctx, ts = randn(B, 4, S, S), randn(B, 77, 768), torch.full((B,), 500, device=device)

        def call():
            t0 = time.perf_counter()
            with torch.no_grad():
                out = unet(lat, ts, ctx).sample
            if device != "meta":
                info["check"] = float(out.abs().mean())
            return {"total": time.perf_counter() - t0}
        return call, info

    # train
    te = None
    if not args.no_text_encoder:
        te = build_text_encoder().eval().requires_grad_(False)
    net = create_lora(unet, args.rank, float(args.rank))
    with torch.no_grad():  # up starts at zero in kohya; nonzero values as sdlora's bench does
        for m in net:
            w = m.lora_up.weight
            w.copy_((1e-3 * ((torch.arange(w.numel(), device=device) % 7) - 3).float()).view_as(w))
    params = list(net.parameters())
    for p in params:
        p.requires_grad_(True)
    if args.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
        unet.train()  # diffusers checkpoints only in training mode (kohya: unet.train() with --gradient_checkpointing)
    else:
        unet.eval()
    info["lora_modules"] = len(net)
    info["lora_params"] = sum(p.numel() for p in params)
    if counter:
        counter.lora_ids = {id(x) for m in net for x in (m.lora_down, m.lora_up)}
        if te is not None:
            counter.te_ids = {id(x) for x in te.modules()}
            counter.attach(te)
        counter.attach(unet)
        counter.attach(net)
    sched = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    latents, noise = randn(1, 4, S, S), randn(1, 4, S, S)
    ts = torch.tensor([500], device=device)
    ids = token_ids(1, device)
    ctx_fixed = randn(1, 77, 768)
    opt = None if device == "meta" else torch.optim.AdamW(params, lr=1e-4)
    if device == "meta":
        sched.alphas_cumprod = sched.alphas_cumprod.to("meta")

    def call():
        t0 = time.perf_counter()
        if te is not None:
            with torch.no_grad():
                ctx = te(ids)[0]
        else:
            ctx = ctx_fixed
        t1 = time.perf_counter()
        noisy = sched.add_noise(latents, noise, ts)
        pred = unet(noisy, ts, ctx).sample
        loss = F.mse_loss(pred.float(), noise.float(), reduction="mean")
        t2 = time.perf_counter()
        if device == "meta":
            return {}
        loss.backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t4 = time.perf_counter()
        info["loss"] = float(loss)
        return {"total": t4 - t0, "text_encoder": t1 - t0, "forward": t2 - t1, "backward": t3 - t2, "optimizer": t4 - t3}
    return call, info


# ---------------------------------------------------------------------------------------------

def blas_info():
    cfg = torch.__config__.show()
    d = {"torch": torch.__version__, "threads": torch.get_num_threads(), "isa": isa,
         "isa_env": {k: os.environ[k] for k in ISA_VARS if k in os.environ},
         "cpu_capability": torch.backends.cpu.get_cpu_capability(),
         "mkl": torch.backends.mkl.is_available(), "mkldnn": torch.backends.mkldnn.is_available(),
         "flush_denormal": True}
    for line in cfg.splitlines():
        line = line.strip(" -")
        if "Math Kernel Library" in line:
            d["mkl_version"] = line
        elif line.startswith("Intel(R) MKL-DNN") or line.startswith("oneDNN"):
            d["onednn_version"] = line
        elif "BLAS_INFO=" in line:
            d["blas_info"] = line.split("BLAS_INFO=", 1)[1].split(",")[0]
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if len(line.split()) >= 6 else ""
                b = os.path.basename(p).lower()
                if "scipy" in p:  # diffusers imports scipy, which maps its own OpenBLAS; torch does not use it
                    continue
                if any(s in b for s in ("blas", "mkl", "lapack", "dnnl", "gomp", "iomp")):
                    libs.add(os.path.basename(p))
    except OSError:
        pass
    d["loaded_libs"] = sorted(libs)
    return d


def sgemm_gflops(n=2048, reps=3):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 1e30
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2.0 * n ** 3 / best * 1e-9


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    res = {"tool": "ref_train_step", "mode": args.mode, "latent": args.latent, "pixels": 8 * args.latent,
           "batch": args.batch, "attention": args.attention}
    if args.mode == "train":
        res.update(rank=args.rank, alpha=args.rank, gradient_checkpointing=args.gradient_checkpointing,
                   text_encoder=not args.no_text_encoder, optimizer="AdamW")

    res["baseline_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # imports only
    counter = FlopCounter()
    with torch.device("meta"):
        call, minfo = setup("meta", counter)
    call()
    res["gflop"] = counter.summary()
    if args.count_only:
        res.update({k: v for k, v in minfo.items() if k.startswith("lora")})
        print(json.dumps(res))
        return

    t0 = time.perf_counter()
    torch.manual_seed(0)
    call, info = setup("cpu")
    res["init_s"] = round(time.perf_counter() - t0, 2)
    call()  # warm-up: allocator, oneDNN primitive creation, first-touch pages, AdamW state
    runs = [call() for _ in range(args.steps)]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tot = sorted(r["total"] for r in runs)
    med = tot[len(tot) // 2]  # the upper median for even N, as sdlora's benches
    res.update(steps=args.steps, warmup=1, seconds_median=round(med, 4), seconds_best=round(tot[0], 4),
               seconds_all=[round(r["total"], 4) for r in runs])
    if len(runs[0]) > 1:
        res["phases_median_s"] = {k: round(sorted(r[k] for r in runs)[len(runs) // 2], 4) for k in runs[0] if k != "total"}
    res["peak_rss_bytes"] = rss
    res["peak_rss_mib"] = round(rss / 2 ** 20, 1)
    res["gflops_achieved"] = round(res["gflop"]["total"] / med, 1)
    res.update(info)
    b = blas_info()
    b["sgemm_2048_gflops"] = round(sgemm_gflops(), 1)
    res["blas"] = b
    res["cpu"] = cpu_name()
    res["nproc"] = os.cpu_count()
    if b["sgemm_2048_gflops"] < 50:
        print("WARNING: torch's sgemm runs at %.1f GFLOP/s: a slow (reference/netlib?) BLAS; the comparison "
              "would be unfair" % b["sgemm_2048_gflops"], file=sys.stderr)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
