"""Goldens for `sdlora generate` (src/sample/pipeline.c, src/lora/lora_apply.c): whole
text-to-image runs of diffusers' StableDiffusionPipeline on the tiny init-model model.

The model is not stored: it is `sdlora init-model --preset tiny --seed 1` (byte-identical for a
seed), written to a temporary folder with $SDLORA (default build/sdlora); tests/check_generate.sh
makes the same one. Every case runs the pipeline (safety checker off, output_type "np") with
the scheduler built as kohya's get_my_scheduler builds it (make_sampler_goldens.kohya_scheduler),
CPU torch.Generator(s) seeded like sdlora's per-image seeds (a list seed, seed+1, … for batches),
48x32 px (latents 24x16 with the tiny VAE's factor 2), few steps.

Cases beyond plain prompts:
  weighted_break, heun_clipskip2
                  the prompt and negative prompt conditioned as AUTOMATIC1111 does
                  (sd_hijack_clip: attention weights, BREAK → a second 77-token chunk, per-chunk
                  "Original" emphasis = multiply then restore the mean, the shorter uncond padded
                  with the empty prompt's chunk), reimplemented below and passed to the pipeline
                  as prompt_embeds / negative_prompt_embeds. (weighted_break also gives the text
                  encoder's final LayerNorm a bias, "<case>.te_final_ln_bias": see below.)
  lora_*          a kohya LoRA/LoCon written here (tiny_gen_lora.safetensors: text encoder +
                  UNet attention + down/mid resnet convs, rank 2, fp16 tensors, no .alpha so
                  scale = 1) loaded with pipe.load_lora_weights (diffusers' kohya converter, PEFT)
                  at adapter weight 0.7 (and 0.3 for the text encoder / 0.9 for the UNet).

Writes tests/golden/generate/generate_golden.safetensors: per case "<case>.image" (B, 3, 32, 48)
F16 in [0, 1]; "euler_a.x_init" (1, 4, 16, 24) the pipeline's initial noise; metadata "cases"
(comma list), "case.<name>" (JSON: sampler, steps, cfg, seed, batch, clip_skip, v, prompt,
negative, lora weights, embeds: "a1111"), "addnet_hash.tiny_lora" (hashlib sha256 of
tests/golden/lora/tiny_lora.safetensors after its header), PSNRs between some cases
("psnr.<a>.<b>": how different the images the test must tell apart are).
Also tests/golden/generate/tiny_gen_lora.safetensors.
Checked by tests/check_generate.sh (tests/tool_generate_oracle.c).

Usage: tools/oracle/.venv/bin/python tools/oracle/make_generate_goldens.py
"""
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
from diffusers import StableDiffusionPipeline

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_io  # noqa: E402
from golden_io import save_sorted  # noqa: E402
from make_lora_goldens import UNET_CONV, UNET_T, TE_T, targets  # noqa: E402
from make_sampler_goldens import kohya_scheduler  # noqa: E402

golden_io._DTYPES.setdefault(torch.float16, "F16")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "golden", "generate")
SDLORA = os.environ.get("SDLORA", os.path.join(ROOT, "build", "sdlora"))
W, H = 48, 32

CASES = [
    dict(name="euler_a", sampler="euler_a", steps=8, cfg=7.5, seed=1, prompt="a photo of a cat", negative="blurry"),
    dict(name="euler", sampler="euler", steps=8, cfg=7.5, seed=1, prompt="a photo of a cat", negative="blurry"),
    dict(name="ddim", sampler="ddim", steps=10, cfg=6.0, seed=3, prompt="a red house on a hill", negative=""),
    dict(name="dpmsolverpp", sampler="dpmsolver++", steps=8, cfg=7.5, seed=4, prompt="portrait of a dog", negative="ugly"),
    # diffusers applies clip_skip to the prompt only, not to the negative prompt: A1111 (and sdlora)
    # to both, so this case is conditioned by the A1111 code below
    dict(name="heun_clipskip2", sampler="heun", steps=5, cfg=7.5, seed=5, prompt="a castle", negative="ugly", clip_skip=2,
         embeds="a1111"),
    dict(name="pndm_v", sampler="pndm", steps=6, cfg=4.0, seed=6, prompt="a forest at night", negative="day", v=1),
    dict(name="lms_karras", sampler="lms", steps=7, cfg=7.5, seed=8, prompt="a boat", negative="", karras=1),
    dict(name="euler_a_batch2", sampler="euler_a", steps=6, cfg=7.5, seed=9, prompt="two birds", negative="", batch=2),
    dict(name="ddim_batch2", sampler="ddim", steps=6, cfg=3.0, seed=10, prompt="a bridge", negative="fog", batch=2),
    dict(name="weighted_break", sampler="dpmsolver++", steps=6, cfg=7.5, seed=11,
         prompt="a (red cat:2.5), (blurry:0.2) BREAK a (green:0.3) [[dog]]", negative="ugly", embeds="a1111", te_ln_bias=1),
    dict(name="unweighted_break", sampler="dpmsolver++", steps=6, cfg=7.5, seed=11,
         prompt="a red cat, blurry BREAK a green dog", negative="ugly", embeds="a1111", te_ln_bias=1),
    dict(name="lora", sampler="euler", steps=6, cfg=7.5, seed=12, prompt="a photo of a cat", negative="blurry",
         lora_te=0.7, lora_unet=0.7),
    dict(name="lora_split", sampler="euler", steps=6, cfg=7.5, seed=12, prompt="a photo of a cat", negative="blurry",
         lora_te=0.3, lora_unet=0.9),
    dict(name="nolora", sampler="euler", steps=6, cfg=7.5, seed=12, prompt="a photo of a cat", negative="blurry"),
]

# ---- AUTOMATIC1111's conditioning (modules/prompt_parser.py, sd_hijack_clip.py), rewritten ----

RE_ATTENTION = re.compile(r"\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:", re.X)
RE_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_prompt_attention(text):
    res, round_b, square_b = [], [], []

    def mul(start, m):
        for p in range(start, len(res)):
            res[p][1] *= m

    for m in RE_ATTENTION.finditer(text):
        t, weight = m.group(0), m.group(1)
        if t.startswith("\\"):
            res.append([t[1:], 1.0])
        elif t == "(":
            round_b.append(len(res))
        elif t == "[":
            square_b.append(len(res))
        elif weight is not None and round_b:
            mul(round_b.pop(), float(weight))
        elif t == ")" and round_b:
            mul(round_b.pop(), 1.1)
        elif t == "]" and square_b:
            mul(square_b.pop(), 1 / 1.1)
        else:
            for i, part in enumerate(RE_BREAK.split(t)):
                if i > 0:
                    res.append(["BREAK", -1])
                res.append([part, 1.0])
    for p in round_b:
        mul(p, 1.1)
    for p in square_b:
        mul(p, 1 / 1.1)
    if not res:
        res = [["", 1.0]]
    i = 0
    while i + 1 < len(res):
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return res


def a1111_chunks(tokenizer, prompt, backtrack=20):
    """[(ids[77], multipliers[77])] as TextConditionalModel.tokenize_line builds them."""
    bos, eos, comma = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(",</w>")
    parsed = parse_prompt_attention(prompt)
    chunks, toks, mults, last_comma = [], [], [], -1

    def close():
        nonlocal toks, mults, last_comma
        pad = 75 - len(toks)
        chunks.append(([bos] + toks + [eos] * pad + [eos], [1.0] + mults + [1.0] * pad + [1.0]))
        toks, mults, last_comma = [], [], -1

    for text, weight in parsed:
        if text == "BREAK" and weight == -1:
            close()
            continue
        ids = tokenizer(text, truncation=False, add_special_tokens=False)["input_ids"]
        for tok in ids:
            if tok == comma:
                last_comma = len(toks)
            elif backtrack and len(toks) == 75 and last_comma != -1 and len(toks) - last_comma <= backtrack:
                cut = last_comma + 1
                rt, rm = toks[cut:], mults[cut:]
                toks, mults = toks[:cut], mults[:cut]
                close()
                toks, mults = rt, rm
            if len(toks) == 75:
                close()
            toks.append(tok)
            mults.append(weight)
    if toks or not chunks:
        close()
    return chunks


@torch.no_grad()
def a1111_encode(pipe, prompt, clip_skip=1):
    """(1, 77·n, D): each chunk encoded alone, z *= multipliers, mean restored."""
    te = pipe.text_encoder
    zs = []
    for ids, mults in a1111_chunks(pipe.tokenizer, prompt):
        out = te(torch.tensor([ids]), output_hidden_states=clip_skip > 1)
        if clip_skip > 1:
            z = te.text_model.final_layer_norm(out.hidden_states[-clip_skip])
        else:
            z = out.last_hidden_state
        m = torch.tensor([mults], dtype=z.dtype)
        before = z.mean()
        z = z * m.reshape(m.shape + (1,)).expand(z.shape)
        after = z.mean()
        zs.append(z * (before / after))
    return torch.cat(zs, dim=1)


def a1111_cond_uncond(pipe, prompt, negative, clip_skip):
    c, u = a1111_encode(pipe, prompt, clip_skip), a1111_encode(pipe, negative, clip_skip)
    empty = a1111_encode(pipe, "", clip_skip)
    while u.shape[1] < c.shape[1]:
        u = torch.cat([u, empty], dim=1)
    while c.shape[1] < u.shape[1]:
        c = torch.cat([c, empty], dim=1)
    return c, u


# ---- the LoRA ----

def make_gen_lora(pipe, path):
    gen = torch.Generator().manual_seed(31337)
    mods = targets(pipe.text_encoder, "lora_te", TE_T, 2, 0.0)
    mods += targets(pipe.unet, "lora_unet", UNET_T, 2, 0.0)
    # LoCon convs of the down and mid blocks only: the file stays small
    mods += [m for m in targets(pipe.unet, "lora_unet", UNET_CONV, 2, 0.0, conv_dim=2, conv_alpha=0.0)
             if "_up_blocks_" not in m[0]]
    sd = {}
    for name, m, r, _ in mods:
        if isinstance(m, torch.nn.Linear):
            down = torch.randn(r, m.in_features, generator=gen) / math.sqrt(m.in_features)
            up = torch.randn(m.out_features, r, generator=gen) * 0.3
        else:
            kh, kw = m.kernel_size
            down = torch.randn(r, m.in_channels, kh, kw, generator=gen) / math.sqrt(m.in_channels * kh * kw)
            up = torch.randn(m.out_channels, r, 1, 1, generator=gen) * 0.3
        sd[name + ".lora_down.weight"] = down.half()
        sd[name + ".lora_up.weight"] = up.half()
    save_sorted(sd, path, {"ss_network_module": "networks.lora", "ss_network_dim": "2", "ss_network_args":
                           json.dumps({"conv_dim": "2"})})
    return len(mods)


def addnet_hash(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        f.seek(8 + n)
        return hashlib.sha256(f.read()).hexdigest()


def psnr(a, b):
    mse = float(((a.double() - b.double()) ** 2).mean())
    return 10 * math.log10(1.0 / mse) if mse > 0 else float("inf")


def main():
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp()
    model = os.path.join(tmp, "tiny")
    subprocess.run([SDLORA, "init-model", "--preset", "tiny", "--seed", "1", "--out", model], check=True)
    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False,
                                                   feature_extractor=None)
    pipe.set_progress_bar_config(disable=True)
    lora_path = os.path.join(OUT, "tiny_gen_lora.safetensors")
    n_mods = make_gen_lora(pipe, lora_path)

    tensors, meta, images = {}, {}, {}
    for c in CASES:
        c = dict(c)
        c.setdefault("batch", 1), c.setdefault("clip_skip", 1), c.setdefault("v", 0), c.setdefault("karras", 0)
        sched = kohya_scheduler(c["sampler"], c["v"], **({"use_karras_sigmas": True} if c["karras"] else {}))
        pipe.scheduler = sched
        B, seed = c["batch"], c["seed"]
        gen = torch.Generator().manual_seed(seed) if B == 1 else [torch.Generator().manual_seed(seed + i) for i in range(B)]
        kw = dict(height=H, width=W, num_inference_steps=c["steps"], guidance_scale=c["cfg"], generator=gen,
                  output_type="np", num_images_per_prompt=B, eta=0.0)
        if "lora_te" in c:
            pipe.load_lora_weights(lora_path, adapter_name="gen")
            n_te = sum(1 for n, _ in pipe.text_encoder.named_modules() if n.endswith("lora_A"))
            n_unet = sum(1 for n, _ in pipe.unet.named_modules() if n.endswith("lora_A"))
            assert n_te + n_unet == n_mods, (n_te, n_unet, n_mods)
            pipe.set_adapters(["gen"], adapter_weights=[{"text_encoder": c["lora_te"], "unet": c["lora_unet"]}])
        ln = pipe.text_encoder.text_model.final_layer_norm
        if c.get("te_ln_bias"):
            # init-model's final LayerNorm has bias 0, so every state has mean ~0 and A1111's
            # mean restore (before / after) would divide rounding noise by rounding noise: give
            # the encoder a bias for this case (stored; the C side sets the same)
            bias = 0.1 + 0.05 * torch.randn(ln.bias.shape, generator=torch.Generator().manual_seed(77))
            tensors[c["name"] + ".te_final_ln_bias"] = bias.float()
            with torch.no_grad():
                ln.bias.copy_(bias)
        if c["name"] == "euler_a":  # the initial noise, for the C side to check its generator
            g0 = torch.Generator().manual_seed(seed)
            tensors["euler_a.x_init"] = torch.randn((1, 4, H // 2, W // 2), generator=g0)
        if c.get("embeds") == "a1111":
            cond, uncond = a1111_cond_uncond(pipe, c["prompt"], c["negative"], c["clip_skip"])
            kw.update(prompt_embeds=cond, negative_prompt_embeds=uncond)
        else:
            kw.update(prompt=c["prompt"], negative_prompt=c["negative"] or None,
                      clip_skip=c["clip_skip"] - 1 if c["clip_skip"] > 1 else None)
        with torch.no_grad():
            img = torch.from_numpy(pipe(**kw).images).permute(0, 3, 1, 2).contiguous()  # (B, 3, H, W)
        if "lora_te" in c:
            pipe.unload_lora_weights()
        if c.get("te_ln_bias"):
            with torch.no_grad():
                ln.bias.zero_()
        images[c["name"]] = img
        tensors[c["name"] + ".image"] = img.half()
        meta["case." + c["name"]] = json.dumps({k: v for k, v in c.items() if k != "name"}, sort_keys=True)
        print(f"{c['name']}: mean {img.mean():.4f} std {img.std():.4f} min {img.min():.3f} max {img.max():.3f}")
    meta["cases"] = ",".join(c["name"] for c in CASES)
    meta["addnet_hash.tiny_lora"] = addnet_hash(os.path.join(ROOT, "tests", "golden", "lora", "tiny_lora.safetensors"))
    meta["addnet_hash.tiny_gen_lora"] = addnet_hash(lora_path)
    for a, b in (("euler", "euler_a"), ("lora", "nolora"), ("lora", "lora_split"), ("weighted_break", "unweighted_break")):
        p = psnr(images[a], images[b])
        meta[f"psnr.{a}.{b}"] = f"{p:.2f}"
        print(f"PSNR {a} vs {b}: {p:.2f} dB")
    save_sorted(tensors, os.path.join(OUT, "generate_golden.safetensors"), meta)


if __name__ == "__main__":
    main()
