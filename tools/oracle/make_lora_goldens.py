"""Write the LoRA network goldens: kohya-format LoRA files for the tiny UNet and tiny CLIP, and
the outputs of those models with the LoRA applied.

Writes (tests/golden/lora/)
  tiny_lora.safetensors   kohya LoRA, rank 4, alpha 2 (a few modules with other alphas), every
                          default target: UNet Transformer2DModel Linear/Conv2d children and
                          text-encoder CLIPAttention/CLIPMLP Linears. F32, no metadata.
  tiny_locon.safetensors  kohya LoCon for the UNet only (network_dim 4 / alpha 2, conv_dim 2 /
                          conv_alpha 1): Transformer2DModel + ResnetBlock2D/Downsample2D/
                          Upsample2D children (3x3 convs at conv_dim; time_emb_proj and 1x1
                          conv_shortcut at network_dim), as kohya's create_network with conv_dim.
  tiny_lora_golden.safetensors  inputs and outputs (below).
checked by tests/test_lora_network.c.

Module selection is done here exactly as kohya's LoRANetwork.create_modules does (class names
of diffusers' modules, which kohya's own UNet mirrors), independently of the C code.

Reference: the LoRA is merged into the weights with the documented math (kohya merge_to,
sd-formats §7.2) in float64, W' = W + m·(alpha/r)·(up @ down) (conv k×k: the same product over
the flattened kernel), multiplier m = 0.7, and the models run in float64; outputs rounded to
float32 once. As a cross-check, diffusers' kohya converter (lora_conversion_utils.
_convert_non_diffusers_lora_to_diffusers) must accept every key of tiny_lora.safetensors.

Golden tensors: latents (2,4,16,12), timesteps (2), context (2,77,24); eps_base, eps_lora,
eps_locon (2,4,16,12); ids (2,16) int64 stored as F32; hidden_base, hidden_lora (2,16,32).
Init check: with torch.manual_seed(1234), a TE-only network drawn in sdlora's module order
(per module: nn.Linear(in,r) init, nn.Linear(r,out) init, kaiming_uniform_(down, a=sqrt(5))
as kohya's LoRAModule.__init__ does): init.<lora name>.lora_down.weight for all TE modules.

Usage: tools/oracle/.venv/bin/python tools/oracle/make_lora_goldens.py
"""
import math
import os

import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel

from golden_io import save_sorted

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = os.path.join(ROOT, "tests", "golden", "models")
OUT = os.path.join(ROOT, "tests", "golden", "lora")

MULT = 0.7
UNET_T = ["Transformer2DModel"]
UNET_CONV = ["ResnetBlock2D", "Downsample2D", "Upsample2D"]
TE_T = ["CLIPAttention", "CLIPSdpaAttention", "CLIPMLP"]


def targets(root, prefix, classes, dim, alpha, conv_dim=0, conv_alpha=0.0):
    """[(lora_name, module, rank, alpha)] as kohya's create_modules selects them."""
    out = []
    for name, module in root.named_modules():
        if module.__class__.__name__ not in classes:
            continue
        for child_name, child in module.named_modules():
            cls = child.__class__.__name__
            if cls not in ("Linear", "Conv2d"):
                continue
            is_1x1 = cls == "Linear" or child.kernel_size == (1, 1)
            if is_1x1:
                r, a = dim, alpha
            elif conv_dim:
                r, a = conv_dim, conv_alpha
            else:
                continue
            lora_name = (prefix + "." + name + "." + child_name).replace(".", "_")
            out.append((lora_name, child, r, a))
    return out


def make_lora(mods, gen, alphas=None):
    sd = {}
    for i, (name, m, r, a) in enumerate(mods):
        if alphas is not None and i in alphas:
            a = alphas[i]
        if isinstance(m, torch.nn.Linear):
            down = torch.randn(r, m.in_features, generator=gen) / math.sqrt(m.in_features)
            up = torch.randn(m.out_features, r, generator=gen) * 0.5
        else:
            kh, kw = m.kernel_size
            down = torch.randn(r, m.in_channels, kh, kw, generator=gen) / math.sqrt(m.in_channels * kh * kw)
            up = torch.randn(m.out_channels, r, 1, 1, generator=gen) * 0.5
        sd[name + ".lora_down.weight"] = down.float()
        sd[name + ".lora_up.weight"] = up.float()
        sd[name + ".alpha"] = torch.tensor(float(a), dtype=torch.float32)
    return sd


@torch.no_grad()
def merge(mods, sd, mult):
    """W += mult * alpha/r * up @ down, in float64 (models already .double())."""
    for name, m, _, _ in mods:
        down = sd[name + ".lora_down.weight"].double()
        up = sd[name + ".lora_up.weight"].double()
        alpha = float(sd[name + ".alpha"])
        r = down.shape[0]
        delta = (up.reshape(up.shape[0], r) @ down.reshape(r, -1)).reshape(m.weight.shape)
        m.weight += mult * (alpha / r) * delta


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20240604)
    unet_dir = os.path.join(MODELS, "tiny-unet")
    te_dir = os.path.join(MODELS, "tiny-clip")

    unet = UNet2DConditionModel.from_pretrained(unet_dir).eval()
    te = CLIPTextModel.from_pretrained(te_dir, attn_implementation="eager").eval()

    te_mods = targets(te, "lora_te", TE_T, 4, 2.0)
    unet_mods = targets(unet, "lora_unet", UNET_T, 4, 2.0)
    locon_mods = targets(unet, "lora_unet", UNET_T + UNET_CONV, 4, 2.0, conv_dim=2, conv_alpha=1.0)
    print(f"TE modules {len(te_mods)}, UNet modules {len(unet_mods)}, LoCon UNet modules {len(locon_mods)}")

    # a few modules with other alphas, so a per-module alpha is exercised
    lora = make_lora(te_mods, gen, alphas={1: 4.0, 5: 0.5})
    lora.update(make_lora(unet_mods, gen, alphas={0: 1.0, 3: 8.0}))
    locon = make_lora(locon_mods, gen)
    save_sorted(lora, os.path.join(OUT, "tiny_lora.safetensors"))
    save_sorted(locon, os.path.join(OUT, "tiny_locon.safetensors"))

    # cross-check: diffusers' kohya converter takes every key
    from diffusers.loaders.lora_conversion_utils import _convert_non_diffusers_lora_to_diffusers
    conv_sd, alphas = _convert_non_diffusers_lora_to_diffusers({k: v.clone() for k, v in lora.items()})
    assert len(conv_sd) == 2 * (len(te_mods) + len(unet_mods)), (len(conv_sd), len(te_mods), len(unet_mods))

    # inputs
    B, H, W, T, TT = 2, 16, 12, 77, 16
    g = torch.Generator().manual_seed(7)
    latents = torch.randn(B, 4, H, W, generator=g)
    timesteps = torch.tensor([999.0, 281.5])
    context = torch.randn(B, T, 24, generator=g)
    ids = torch.randint(3, 990, (B, TT), generator=g)
    ids[:, 0] = 0  # bos
    ids[0, 10] = 2  # eos
    ids[1, 15] = 2

    def run_unet(mods, sd):
        u = UNet2DConditionModel.from_pretrained(unet_dir).eval().double()
        if mods is not None:
            byname = dict(u.named_modules())
            # re-find the modules in this copy by their kohya name
            lut = {("lora_unet." + n).replace(".", "_"): mm for n, mm in byname.items()}
            merge([(n, lut[n], r, a) for n, _, r, a in mods], sd, MULT)
        with torch.no_grad():
            return u(latents.double(), timesteps.double(), context.double()).sample.float()

    def run_te(mods, sd):
        t = CLIPTextModel.from_pretrained(te_dir, attn_implementation="eager").eval().double()
        if mods is not None:
            lut = {("lora_te." + n).replace(".", "_"): mm for n, mm in t.named_modules()}
            merge([(n, lut[n], r, a) for n, _, r, a in mods], sd, MULT)
        # transformers builds its causal mask with the default dtype's min: float64 default
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            with torch.no_grad():
                return t(ids).last_hidden_state.float()
        finally:
            torch.set_default_dtype(old)

    out = {
        "latents": latents, "timesteps": timesteps, "context": context, "ids": ids.float(),
        "eps_base": run_unet(None, None), "eps_lora": run_unet(unet_mods, lora),
        "eps_locon": run_unet(locon_mods, locon),
        "hidden_base": run_te(None, None), "hidden_lora": run_te(te_mods, lora),
    }

    # init draws: kohya's LoRAModule.__init__ per module, TE-only network, seed 1234
    torch.manual_seed(1234)
    for name, m, r, _ in te_mods:
        down = torch.nn.Linear(m.in_features, r, bias=False)
        torch.nn.Linear(r, m.out_features, bias=False)
        torch.nn.init.kaiming_uniform_(down.weight, a=math.sqrt(5))
        out["init." + name + ".lora_down.weight"] = down.weight.detach().clone()

    meta = {"te_modules": len(te_mods), "unet_modules": len(unet_mods), "locon_modules": len(locon_mods),
            "te_order": ",".join(n for n, _, _, _ in te_mods),
            "unet_order": ",".join(n for n, _, _, _ in unet_mods),
            "locon_order": ",".join(n for n, _, _, _ in locon_mods)}
    save_sorted(out, os.path.join(OUT, "tiny_lora_golden.safetensors"), meta)
    for k in ("eps_lora", "eps_locon"):
        d = (out[k] - out["eps_base"]).abs().max().item()
        print(f"{k}: max |lora - base| = {d:.3g}, max |base| = {out['eps_base'].abs().max().item():.3g}")
    d = (out["hidden_lora"] - out["hidden_base"]).abs().max().item()
    print(f"hidden: max |lora - base| = {d:.3g}")


if __name__ == "__main__":
    main()
