"""Goldens for `sdlora probe unet` and `sdlora probe text-encoder`.

Runs diffusers' UNet2DConditionModel and transformers' CLIPTextModel of the tiny diffusers
folder tests/golden/checkpoints/tiny-diffusers (made by make_checkpoint_fixtures.py) on seeded
inputs, in float64, and writes:

  tests/golden/probe/unet.in.safetensors            latents (2, 4, 8, 8), timesteps (2), context (2, 77, 8)
  tests/golden/probe/unet.out.safetensors           eps (2, 4, 8, 8)
  tests/golden/probe/text-encoder.in.safetensors    input_ids (2, 77) int64
  tests/golden/probe/text-encoder.out.safetensors   input_ids, hidden_states (2, 77, 8): clip skip 1
                                                    (last_hidden_state)
  tests/golden/probe/text-encoder-skip2.out.safetensors  clip skip 2: final_layer_norm(hidden_states[-2]),
                                                    as A1111 and kohya compute it
  tests/golden/probe/unet.tiny-init.in.safetensors  latents (1, 4, 8, 8), timesteps (1), context (1, 77, 32):
                                                    an input for the UNet of `sdlora init-model --preset tiny`

The tiny text encoder has a 100-token vocabulary, so no tokenized prompt fits it (BOS/EOS are
49406/49407): its goldens take random ids below 100 through `--in`; the prompt path of the
probe is covered by tests/check_probe_models.sh on a model from `sdlora init-model`.
tests/check_probe_models.sh runs the probes and compares with build/tests/tool_st_compare.
"""
import os
import sys

import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel

sys.path.insert(0, os.path.dirname(__file__))
from golden_io import save_sorted  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "tests/golden/checkpoints/tiny-diffusers")
OUT = os.path.join(ROOT, "tests/golden/probe")


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def unet_goldens():
    unet = UNet2DConditionModel.from_pretrained(MODEL, subfolder="unet", torch_dtype=torch.float32).double().eval()
    latents = torch.randn(2, 4, 8, 8).to(torch.float32)
    timesteps = torch.tensor([17.0, 901.0], dtype=torch.float32)
    context = torch.randn(2, 77, unet.config.cross_attention_dim).to(torch.float32)
    with torch.no_grad():
        eps = unet(latents.double(), timesteps.double(), encoder_hidden_states=context.double()).sample
    meta = {"probe": "unet"}
    save_sorted({"latents": latents, "timesteps": timesteps, "context": context},
                os.path.join(OUT, "unet.in.safetensors"), meta)
    save_sorted({"eps": f32(eps)}, os.path.join(OUT, "unet.out.safetensors"), meta)


def text_encoder_goldens():
    te = CLIPTextModel.from_pretrained(MODEL, subfolder="text_encoder", torch_dtype=torch.float32,
                                       attn_implementation="eager").double().eval()
    ids = torch.randint(0, te.config.vocab_size, (2, 77), dtype=torch.int64)
    # transformers builds its causal mask with the default dtype's min: float64 must be the default
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    with torch.no_grad():
        out = te(ids, output_hidden_states=True)
        skip1 = out.last_hidden_state
        skip2 = te.text_model.final_layer_norm(out.hidden_states[-2])
    torch.set_default_dtype(old)
    meta = {"probe": "text-encoder"}
    save_sorted({"input_ids": ids}, os.path.join(OUT, "text-encoder.in.safetensors"), meta)
    save_sorted({"input_ids": ids, "hidden_states": f32(skip1)}, os.path.join(OUT, "text-encoder.out.safetensors"), meta)
    save_sorted({"input_ids": ids, "hidden_states": f32(skip2)}, os.path.join(OUT, "text-encoder-skip2.out.safetensors"),
                meta)


def tiny_init_input():
    torch.manual_seed(7)
    save_sorted({"latents": torch.randn(1, 4, 8, 8), "timesteps": torch.tensor([500.0]),
                 "context": torch.randn(1, 77, 32)}, os.path.join(OUT, "unet.tiny-init.in.safetensors"),
                {"probe": "unet", "model": "sdlora init-model --preset tiny"})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(20261123)
    unet_goldens()
    text_encoder_goldens()
    tiny_init_input()


if __name__ == "__main__":
    main()
