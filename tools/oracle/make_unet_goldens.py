"""Write the tiny-UNet goldens: a diffusers UNet2DConditionModel folder and its references.

Writes
  tests/golden/models/tiny-unet/config.json                         (diffusers unet/config.json)
  tests/golden/models/tiny-unet/diffusion_pytorch_model.safetensors (F32 weights, diffusers keys)
  tests/golden/models/tiny-unet-golden.safetensors                  (inputs and reference outputs)
checked by tests/test_unet.c.

Case "sd1" (the folder): the SD1.x structure at 16/32 channels — CrossAttnDownBlock2D +
DownBlock2D, UpBlock2D + CrossAttnUpBlock2D, layers_per_block 2 (so up blocks have 3 resnets,
one fed by the downsampler's skip), conv_shortcuts where channels change, 1x1-conv proj_in/out,
8 groups, attention_head_dim [2, 4] (heads per level: level 0 and the up block at level 0 use
2 heads, the mid block the last level's 4), context width 24 with 77 tokens. It is exactly
unet_config_tiny() in src/models/unet_config.c.

Case "v2" (weights inside the golden file, under "v2.w."; config JSON in metadata "v2_config"):
the SD2.x flavour at 8/16 channels — use_linear_projection, transformer_layers_per_block 2,
heads [2, 4], 4 groups, a context of 5 tokens of width 12.

Weights are diffusers' default init, then perturbed (norm scales away from 1, every bias
non-zero, zero-initialised layers no longer zero) so no path is trivially identity or zero.
References run in float64 (model.double()) on those float32 weights and inputs and are rounded
to float32 once. diffusers computes the sinusoidal timestep embedding in float32 even then
(get_timestep_embedding casts), as sdlora does.

Golden tensors per case <c> ("sd1." / "v2." prefix): latents (B,4,H,W), timesteps (B) (one
fractional), context (B,T,ctx), eps = unet(latents, timesteps, context).sample, deps (random
upstream gradient), and the autograd gradients of sum(deps * eps): dlatents, dcontext, and
d.<param name> for a sample of parameters (see SAMPLED). sd1: B=2, 16x12 latents (non-square;
8x6 after the downsampler), T=77; v2: B=2, 8x8 latents, T=5.
Metadata: the parameter and tensor counts of the real SD1.5 and SD2.1 UNets built by diffusers
(checks of the C table), and v2_config.

Usage: tools/oracle/.venv/bin/python tools/oracle/make_unet_goldens.py
"""
import json
import os

import torch
from diffusers import UNet2DConditionModel

from golden_io import save_sorted

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "golden", "models")

TINY_SD1 = dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=[16, 32], layers_per_block=2,
                down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], cross_attention_dim=24,
                attention_head_dim=[2, 4], norm_num_groups=8, time_embedding_dim=None)
TINY_V2 = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=[8, 16], layers_per_block=1,
               down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
               up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"], cross_attention_dim=12,
               attention_head_dim=[2, 4], norm_num_groups=4, use_linear_projection=True,
               transformer_layers_per_block=2)
SD15 = dict(sample_size=64, cross_attention_dim=768)
SD21 = dict(sample_size=96, cross_attention_dim=1024, attention_head_dim=[5, 10, 20, 20], use_linear_projection=True)

SAMPLED = {
    "sd1": [
        "conv_in.weight",
        "time_embedding.linear_1.weight",
        "time_embedding.linear_2.bias",
        "down_blocks.0.resnets.0.norm1.weight",
        "down_blocks.0.resnets.0.conv1.weight",
        "down_blocks.0.attentions.0.norm.bias",
        "down_blocks.0.attentions.0.proj_in.weight",
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight",
        "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight",
        "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_v.weight",
        "down_blocks.0.downsamplers.0.conv.weight",
        "down_blocks.1.resnets.0.conv_shortcut.weight",
        "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
        "mid_block.resnets.1.time_emb_proj.weight",
        "up_blocks.0.resnets.2.conv2.bias",
        "up_blocks.0.upsamplers.0.conv.weight",
        "up_blocks.1.resnets.0.conv_shortcut.weight",
        "up_blocks.1.attentions.0.transformer_blocks.0.norm3.weight",
        "up_blocks.1.attentions.2.transformer_blocks.0.attn1.to_out.0.weight",
        "up_blocks.1.attentions.2.proj_out.weight",
        "conv_norm_out.weight",
        "conv_out.weight",
    ],
    "v2": [
        "down_blocks.0.attentions.0.proj_in.weight",
        "down_blocks.0.attentions.0.transformer_blocks.1.attn1.to_k.weight",
        "mid_block.attentions.0.transformer_blocks.1.ff.net.2.weight",
        "up_blocks.1.attentions.1.proj_out.weight",
        "time_embedding.linear_1.weight",
    ],
}


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)          # GroupNorm / LayerNorm scale
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.add_(0.05 * noise * max(float(p.std()), 0.2))


def config_dict(model):
    cfg = {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.31.0", **dict(model.config)}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items() if not k.startswith("_use")}


def run_case(name, model, B, H, W, T, seed):
    """Inputs, eps and gradients for one model; returns {prefix.name: float32 tensor}."""
    gi = torch.Generator().manual_seed(seed)
    ctx_dim = model.config.cross_attention_dim
    latents = torch.randn(B, 4, H, W, generator=gi).float()
    context = torch.randn(B, T, ctx_dim, generator=gi).float()
    deps = torch.randn(B, 4, H, W, generator=gi).float()
    timesteps = torch.tensor([981.0, 17.5][:B], dtype=torch.float32)

    m = model.double()
    lat = latents.double().requires_grad_(True)
    ctx = context.double().requires_grad_(True)
    eps = m(lat, timesteps, encoder_hidden_states=ctx).sample
    params = dict(m.named_parameters())
    sampled = [params[n] for n in SAMPLED[name]]
    grads = torch.autograd.grad(eps, [lat, ctx] + sampled, deps.double())
    out = {"latents": latents, "timesteps": timesteps, "context": context, "deps": deps,
           "eps": eps.detach().float(), "dlatents": grads[0].float(), "dcontext": grads[1].float()}
    for n, gr in zip(SAMPLED[name], grads[2:]):
        out["d." + n] = gr.float()
    print(f"{name}: max|eps| {eps.abs().max():.3g}, max|dlatents| {grads[0].abs().max():.3g}, "
          f"max|dcontext| {grads[1].abs().max():.3g}")
    return {f"{name}.{k}": v.contiguous() for k, v in out.items()}


def counts(cfg):
    with torch.device("meta"):
        m = UNet2DConditionModel(**cfg)
    sd = m.state_dict()
    return sum(v.numel() for v in sd.values()), len(sd)


def main():
    torch.manual_seed(0)
    sd1 = UNet2DConditionModel(**TINY_SD1).float().eval()
    perturb(sd1, 20240612)
    folder = os.path.join(OUT, "tiny-unet")
    os.makedirs(folder, exist_ok=True)
    weights = {k: v.float().contiguous() for k, v in sd1.state_dict().items()}
    save_sorted(weights, os.path.join(folder, "diffusion_pytorch_model.safetensors"), {"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config_dict(sd1), f, indent=2, sort_keys=True)
        f.write("\n")

    torch.manual_seed(1)
    v2 = UNet2DConditionModel(**TINY_V2).float().eval()
    perturb(v2, 20240613)
    golden = {"v2.w." + k: v.float().contiguous() for k, v in v2.state_dict().items()}
    v2_config = json.dumps(config_dict(v2), sort_keys=True)

    golden.update(run_case("sd1", sd1, 2, 16, 12, 77, 11))
    golden.update(run_case("v2", v2, 2, 8, 8, 5, 12))

    n15, t15 = counts(SD15)
    n21, t21 = counts(SD21)
    meta = {"torch": torch.__version__, "v2_config": v2_config, "sd15_params": n15, "sd15_tensors": t15,
            "sd21_params": n21, "sd21_tensors": t21}
    save_sorted(golden, os.path.join(OUT, "tiny-unet-golden.safetensors"), meta)
    print(f"SD1.5 UNet: {n15} params / {t15} tensors; SD2.1: {n21} / {t21}")


if __name__ == "__main__":
    main()
