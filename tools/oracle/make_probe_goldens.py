"""Goldens for `sdlora probe …` (the door for checking sdlora against other implementations).

Runs the diffusers/transformers reference components of the tiny diffusers folder
tests/golden/checkpoints/tiny-diffusers (made by make_checkpoint_fixtures.py) on seeded inputs,
in float64, and writes for each probe an input file and the expected output file:

  tests/golden/probe/vae-encode.in.safetensors   image (2, 3, 16, 12) in [-1, 1]
  tests/golden/probe/vae-encode.out.safetensors  mean, logvar
  tests/golden/probe/vae-decode.in.safetensors   latents (2, 4, 4, 3), unscaled
  tests/golden/probe/vae-decode.out.safetensors  image
  tests/golden/probe/tokenize-150.out.safetensors input_ids (2, 77) of a long caption as kohya's
      max_token_length=150 path cuts transformers' CLIPTokenizer output, weights all 1
      (the prompt is in the file's metadata; the probe runs it with --plain)

tests/check_probe.sh runs the probes and compares with build/tests/tool_st_compare.
"""
import os
import sys

import tempfile

import numpy as np
import torch
from diffusers import AutoencoderKL

sys.path.insert(0, os.path.dirname(__file__))
from golden_io import save_sorted  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "tests/golden/checkpoints/tiny-diffusers")
OUT = os.path.join(ROOT, "tests/golden/probe")


def f32(t):
    return t.detach().to(torch.float32).contiguous()


TOKENIZE_PROMPT = ("masterpiece, best quality, 1girl, solo, long hair, looking at viewer, smile, "
                   "(red dress:1.2), standing in a field of sunflowers at golden hour, wind in her hair, "
                   "detailed eyes, soft lighting, bokeh, depth of field, 35mm photograph, film grain, "
                   "kodak portra 400, shot by a professional photographer, highly detailed, sharp focus, "
                   "8k uhd, dslr, high quality, intricate details, vibrant colors, summer afternoon, "
                   "gentle breeze, flowing fabric, natural beauty, serene expression, cinematic composition")


def tokenize_golden():
    """kohya's 150-token windows of transformers' CLIPTokenizer output (no attention parsing)."""
    from make_tokenizer_goldens import build_tokenizer, kohya_chunks
    with tempfile.TemporaryDirectory() as tmp:
        tok, _ = build_tokenizer(tmp)  # SD1: pads with EOS
        chunks = kohya_chunks(tok, TOKENIZE_PROMPT, 150)
    ids = torch.tensor(np.array(chunks, dtype=np.int32))
    save_sorted({"input_ids": ids, "weights": torch.ones(ids.shape, dtype=torch.float32)},
                os.path.join(OUT, "tokenize-150.out.safetensors"), {"probe": "tokenize", "prompt": TOKENIZE_PROMPT})


def main():
    os.makedirs(OUT, exist_ok=True)
    tokenize_golden()
    torch.manual_seed(20261122)
    vae = AutoencoderKL.from_pretrained(MODEL, subfolder="vae", variant="fp16", torch_dtype=torch.float32)
    vae = vae.double().eval()
    image = (torch.rand(2, 3, 16, 12) * 2 - 1).to(torch.float32)
    with torch.no_grad():
        dist = vae.encode(image.double()).latent_dist
    save_sorted({"image": image}, os.path.join(OUT, "vae-encode.in.safetensors"), {"probe": "vae-encode"})
    save_sorted({"mean": f32(dist.mean), "logvar": f32(dist.logvar)}, os.path.join(OUT, "vae-encode.out.safetensors"),
                {"probe": "vae-encode"})
    latents = torch.randn(2, 4, 4, 3).to(torch.float32)
    with torch.no_grad():
        dec = vae.decode(latents.double()).sample
    save_sorted({"latents": latents}, os.path.join(OUT, "vae-decode.in.safetensors"), {"probe": "vae-decode"})
    save_sorted({"image": f32(dec)}, os.path.join(OUT, "vae-decode.out.safetensors"), {"probe": "vae-decode"})


if __name__ == "__main__":
    main()
