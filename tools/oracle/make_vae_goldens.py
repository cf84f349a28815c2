"""Write the tiny-VAE goldens: a diffusers AutoencoderKL folder and its reference outputs.

Writes
  tests/golden/models/tiny-vae/config.json                        (diffusers vae/config.json)
  tests/golden/models/tiny-vae/diffusion_pytorch_model.safetensors (F32 weights, diffusers keys)
  tests/golden/models/tiny-vae-golden.safetensors                  (inputs and reference outputs)
checked by tests/test_vae.c.

The tiny config keeps every structural feature of the SD VAE (two levels so one downsampler
with its asymmetric pad and one upsampler, a conv_shortcut where channels change, the
one-head mid-block attention, quant/post-quant convs) at 16/32 channels, so the weights stay
under 1 MB. The downsample factor is 2^(levels-1) = 2 (the SD VAE's 4 levels give 8).

Weights are diffusers' default init, then perturbed (GroupNorm scales away from 1, every bias
non-zero) so no path is trivially identity or zero. The references run in float64 on those
float32 weights and inputs and are rounded to float32 once, so the goldens carry no float32
error of their own. Sampling is the exception: it reproduces diffusers' float32
DiagonalGaussianDistribution.sample() exactly (torch.manual_seed(seed) right before, on the
float32 mean/logvar), since that is what a float32 training run draws.

Golden tensors: image (2,3,32,24) in [-1,1]; mean, logvar (2,4,16,12) =
vae.encode(image).latent_dist.{mean,logvar} (logvar clamped to [-30,20]); sample_eps =
torch.randn after torch.manual_seed(sample_seed); sample = latent_dist.sample() (unscaled);
sample_scaled = sample * scaling_factor; latents (2,4,16,12) and decoded = vae.decode(latents).sample.
Metadata: sample_seed, scaling_factor, and the parameter and tensor counts of the real SD VAE
config (to check the C table against diffusers).
The real SD VAE config is also run, with weights both sides regenerate from torch.randn (see
sd_random_weights; 335 MB, so not stored): sd_image (1,3,64,48), sd_mean, sd_logvar (1,4,8,6),
sd_latents and sd_decoded = decode(sd_latents) — this covers 4 levels, layers_per_block 2 (3
decoder resnets per level), 32 groups and three downsamplers, which the tiny model does not.

Usage: tools/oracle/.venv/bin/python tools/oracle/make_vae_goldens.py
"""
import json
import math
import os

import torch
from diffusers import AutoencoderKL
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

from golden_io import save_sorted

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "golden", "models")

TINY = dict(in_channels=3, out_channels=3, latent_channels=4,
            down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
            block_out_channels=[16, 32], layers_per_block=1, norm_num_groups=8, act_fn="silu",
            sample_size=32, scaling_factor=0.18215)
SD = dict(in_channels=3, out_channels=3, latent_channels=4,
          down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
          block_out_channels=[128, 256, 512, 512], layers_per_block=2, norm_num_groups=32,
          act_fn="silu", sample_size=512, scaling_factor=0.18215)
SAMPLE_SEED = 1234


def sd_random_weights(model):
    """The real SD VAE config with weights the C test regenerates from torch.randn: tensor i of
    the state dict sorted by name gets torch.manual_seed(i); torch.randn(numel), then
    GroupNorm weights 1 + 0.1·x, biases 0.1·x, other weights x · (1/sqrt(fan_in)) (float32)."""
    sd = {}
    for i, name in enumerate(sorted(model.state_dict())):
        shape = model.state_dict()[name].shape
        torch.manual_seed(i)
        x = torch.randn(shape.numel())
        if "norm" in name and name.endswith(".weight"):
            x = x * 0.1 + 1.0
        elif name.endswith(".bias"):
            x = x * 0.1
        else:
            x = x * (1.0 / math.sqrt(shape.numel() // shape[0]))
        sd[name] = x.reshape(shape).float()
    return sd


def sd_random_case(model):
    """Encode and decode at the real SD VAE config (4 levels, 2 resnets, 32 groups) on a small
    non-square image (1, 3, 64, 48) → latents (1, 4, 8, 6), float64 reference."""
    model.load_state_dict(sd_random_weights(model))
    model = model.double().eval()
    g = torch.Generator().manual_seed(11)
    image = (torch.rand(1, 3, 64, 48, generator=g) * 2 - 1).float()
    latents = torch.randn(1, 4, 8, 6, generator=g).float()
    with torch.no_grad():
        dist = model.encode(image.double()).latent_dist
        decoded = model.decode(latents.double()).sample
    return {"sd_image": image, "sd_mean": dist.mean.float(), "sd_logvar": dist.logvar.float(),
            "sd_latents": latents, "sd_decoded": decoded.float()}


def main():
    torch.manual_seed(0)
    vae = AutoencoderKL(**TINY).float().eval()
    g = torch.Generator().manual_seed(20240611)
    with torch.no_grad():
        for name, p in vae.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)          # GroupNorm scale
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.add_(0.02 * noise)

    folder = os.path.join(OUT, "tiny-vae")
    os.makedirs(folder, exist_ok=True)
    weights = {k: v.float().contiguous() for k, v in vae.state_dict().items()}
    save_sorted(weights, os.path.join(folder, "diffusion_pytorch_model.safetensors"), {"format": "pt"})
    cfg = {"_class_name": "AutoencoderKL", "_diffusers_version": "0.31.0", **dict(vae.config)}
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items() if not k.startswith("_use")}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")

    gi = torch.Generator().manual_seed(7)
    image = (torch.rand(2, 3, 32, 24, generator=gi) * 2 - 1).float()
    latents = torch.randn(2, 4, 16, 12, generator=gi).float()

    v64 = AutoencoderKL(**TINY).double().eval()
    v64.load_state_dict({k: v.double() for k, v in weights.items()})
    with torch.no_grad():
        dist = v64.encode(image.double()).latent_dist
        mean, logvar = dist.mean.float(), dist.logvar.float()
        decoded = v64.decode(latents.double()).sample.float()
        # diffusers' float32 sampling on the float32 moments
        post = DiagonalGaussianDistribution(torch.cat([mean, logvar], dim=1))
        torch.manual_seed(SAMPLE_SEED)
        eps = torch.randn(mean.shape)
        torch.manual_seed(SAMPLE_SEED)
        sample = post.sample()
        sample_scaled = sample * TINY["scaling_factor"]

    sd = AutoencoderKL(**SD)
    sd_params = sum(p.numel() for p in sd.parameters())
    sd_tensors = len(sd.state_dict())
    sd_out = sd_random_case(sd)
    meta = {"sample_seed": SAMPLE_SEED, "scaling_factor": TINY["scaling_factor"],
            "sd_n_params": sd_params, "sd_n_tensors": sd_tensors, "torch": torch.__version__}
    save_sorted({"image": image, "mean": mean, "logvar": logvar, "sample_eps": eps, "sample": sample,
                 "sample_scaled": sample_scaled, "latents": latents, "decoded": decoded, **sd_out},
                os.path.join(OUT, "tiny-vae-golden.safetensors"), meta)
    n = sum(v.numel() for v in weights.values())
    print(f"tiny VAE: {len(weights)} tensors, {n} floats; SD VAE: {sd_tensors} tensors, {sd_params} params")
    print(f"mean |max| {mean.abs().max():.3g} logvar range [{logvar.min():.3g}, {logvar.max():.3g}] "
          f"decoded |max| {decoded.abs().max():.3g}")


if __name__ == "__main__":
    main()
