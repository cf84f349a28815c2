"""make_checkpoint_fixtures.py — tiny SD1-like checkpoints in all three forms users have, plus
hostile pickles, for tests/test_checkpoint.c.

What it writes under tests/golden/checkpoints/:
  tiny-ldm.safetensors      single-file LDM/A1111 layout (model.diffusion_model.*,
                            first_stage_model.*, cond_stage_model.transformer.*), fp32, plus
                            the extras real files carry (position_ids as int64, alphas_cumprod,
                            model_ema.decay) that a loader must ignore
  tiny-ldm.ckpt             the same dict as torch.save({"state_dict": sd, "global_step": 1}),
                            with sd an OrderedDict carrying _metadata (so the pickle has a BUILD,
                            as model.state_dict() pickles do) and the CLIP q/k/v projections of
                            layer 0 stored as contiguous views into one shared storage
  tiny-ldm-fp16.ckpt        floats as fp16, nested {"state_dict": {"state_dict": sd}} with
                            "epoch" and "global_step" beside it, saved under another archive name
  tiny-diffusers/           a diffusers folder: model_index.json, unet/ (config.json +
                            diffusion_pytorch_model.safetensors), vae/ (the .fp16.safetensors
                            variant file name, fp32 values), text_encoder/ (config.json +
                            pytorch_model.bin, i.e. a torch zip)
  hostile/*.ckpt            zips whose data.pkl tries to run code or is malformed (see HOSTILE)
  fuzz-seeds/*.bin          seed inputs for tests/fuzz/fuzz_ckpt.c

The LDM dict is generated here from the structure (as sd-formats.md §1.6/§4.6 list it), then
converted to diffusers keys by diffusers' own converters (convert_ldm_unet_checkpoint,
convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint) and loaded with strict=True into
freshly built diffusers/transformers models: that proves the generated LDM layout is exactly
what diffusers expects, so the C mapping is checked against diffusers, not against itself.

Run from the repo root:  tools/oracle/.venv/bin/python tools/oracle/make_checkpoint_fixtures.py
"""
import collections
import io
import json
import os
import shutil
import struct
import zipfile

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
)
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel

OUT = "tests/golden/checkpoints"

# SD1 structure, shrunk: 3 levels (SD1 has 4), 2 layers per block, attention on every level but
# the last, one transformer block per attention, 1x1-conv proj_in/proj_out.
UNET = dict(
    sample_size=8, in_channels=4, out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(4, 8, 8), layers_per_block=2, cross_attention_dim=8,
    attention_head_dim=2, norm_num_groups=2,
)
VAE = dict(
    in_channels=3, out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
    block_out_channels=(4, 8, 8), layers_per_block=1, latent_channels=4, norm_num_groups=2,
    sample_size=32,
)
CLIP = dict(
    vocab_size=100, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
    num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
    bos_token_id=0, eos_token_id=2, pad_token_id=1,
)


def ldm_unet(cfg):
    """LDM names and shapes of the UNet (without the model.diffusion_model. prefix)."""
    sd = {}
    ch = list(cfg["block_out_channels"])
    lpb, ctx = cfg["layers_per_block"], cfg["cross_attention_dim"]
    attn = [t.startswith("CrossAttn") for t in cfg["down_block_types"]]
    temb = 4 * ch[0]

    def lin(p, o, i, bias=True):
        sd[p + ".weight"] = (o, i)
        if bias:
            sd[p + ".bias"] = (o,)

    def conv(p, o, i, k):
        sd[p + ".weight"] = (o, i, k, k)
        sd[p + ".bias"] = (o,)

    def norm(p, c):
        sd[p + ".weight"] = (c,)
        sd[p + ".bias"] = (c,)

    def res(p, cin, cout):
        norm(p + ".in_layers.0", cin)
        conv(p + ".in_layers.2", cout, cin, 3)
        lin(p + ".emb_layers.1", cout, temb)
        norm(p + ".out_layers.0", cout)
        conv(p + ".out_layers.3", cout, cout, 3)
        if cin != cout:
            conv(p + ".skip_connection", cout, cin, 1)

    def st(p, c):
        norm(p + ".norm", c)
        conv(p + ".proj_in", c, c, 1)
        b = p + ".transformer_blocks.0"
        for a, kv in (("attn1", c), ("attn2", ctx)):
            lin(f"{b}.{a}.to_q", c, c, False)
            lin(f"{b}.{a}.to_k", c, kv, False)
            lin(f"{b}.{a}.to_v", c, kv, False)
            lin(f"{b}.{a}.to_out.0", c, c)
        lin(b + ".ff.net.0.proj", 8 * c, c)
        lin(b + ".ff.net.2", c, 4 * c)
        for n in ("norm1", "norm2", "norm3"):
            norm(f"{b}.{n}", c)
        conv(p + ".proj_out", c, c, 1)

    lin("time_embed.0", temb, ch[0])
    lin("time_embed.2", temb, temb)
    conv("input_blocks.0.0", ch[0], cfg["in_channels"], 3)
    chans, c, idx = [ch[0]], ch[0], 1
    for i, out in enumerate(ch):
        for _ in range(lpb):
            res(f"input_blocks.{idx}.0", c, out)
            c = out
            if attn[i]:
                st(f"input_blocks.{idx}.1", c)
            chans.append(c)
            idx += 1
        if i < len(ch) - 1:
            conv(f"input_blocks.{idx}.0.op", c, c, 3)
            chans.append(c)
            idx += 1
    res("middle_block.0", c, c)
    st("middle_block.1", c)
    res("middle_block.2", c, c)
    idx = 0
    for i in reversed(range(len(ch))):
        out = ch[i]
        for j in range(lpb + 1):
            res(f"output_blocks.{idx}.0", c + chans.pop(), out)
            c = out
            if attn[i]:
                st(f"output_blocks.{idx}.1", c)
            if i > 0 and j == lpb:
                conv(f"output_blocks.{idx}.{2 if attn[i] else 1}.conv", c, c, 3)
            idx += 1
    norm("out.0", ch[0])
    conv("out.2", cfg["out_channels"], ch[0], 3)
    return sd


def ldm_vae(cfg):
    """LDM names and shapes of the VAE (without the first_stage_model. prefix)."""
    sd = {}
    ch = list(cfg["block_out_channels"])
    lpb, zc = cfg["layers_per_block"], cfg["latent_channels"]

    def conv(p, o, i, k):
        sd[p + ".weight"] = (o, i, k, k)
        sd[p + ".bias"] = (o,)

    def norm(p, c):
        sd[p + ".weight"] = (c,)
        sd[p + ".bias"] = (c,)

    def res(p, cin, cout):
        norm(p + ".norm1", cin)
        conv(p + ".conv1", cout, cin, 3)
        norm(p + ".norm2", cout)
        conv(p + ".conv2", cout, cout, 3)
        if cin != cout:
            conv(p + ".nin_shortcut", cout, cin, 1)

    def mid(p, c):
        res(p + ".block_1", c, c)
        norm(p + ".attn_1.norm", c)
        for n in ("q", "k", "v", "proj_out"):
            conv(f"{p}.attn_1.{n}", c, c, 1)
        res(p + ".block_2", c, c)

    conv("encoder.conv_in", ch[0], cfg["in_channels"], 3)
    c = ch[0]
    for i, out in enumerate(ch):
        for j in range(lpb):
            res(f"encoder.down.{i}.block.{j}", c, out)
            c = out
        if i < len(ch) - 1:
            conv(f"encoder.down.{i}.downsample.conv", c, c, 3)
    mid("encoder.mid", c)
    norm("encoder.norm_out", c)
    conv("encoder.conv_out", 2 * zc, c, 3)
    conv("quant_conv", 2 * zc, 2 * zc, 1)
    conv("post_quant_conv", zc, zc, 1)
    c = ch[-1]
    conv("decoder.conv_in", c, zc, 3)
    mid("decoder.mid", c)
    for i in reversed(range(len(ch))):  # LDM keeps decoder levels in encoder order: up.0 is the last to run
        for j in range(lpb + 1):
            res(f"decoder.up.{i}.block.{j}", c, ch[i])
            c = ch[i]
        if i > 0:
            conv(f"decoder.up.{i}.upsample.conv", c, c, 3)
    norm("decoder.norm_out", c)
    conv("decoder.conv_out", cfg["out_channels"], c, 3)
    return sd


def randomize(shapes, gen):
    return {k: torch.randn(s, generator=gen) * 0.5 for k, s in shapes.items()}


def build():
    gen = torch.Generator().manual_seed(1234)
    unet_ldm = randomize(ldm_unet(UNET), gen)
    vae_ldm = randomize(ldm_vae(VAE), gen)
    clip_model = CLIPTextModel(CLIPTextConfig(**CLIP))
    clip_shapes = {k: tuple(v.shape) for k, v in clip_model.state_dict().items()}
    clip_hf = randomize(clip_shapes, gen)
    # layer 0's q/k/v as contiguous views into one storage (offsets 0, C*C, 2*C*C): torch.save keeps
    # the sharing, so the .ckpt exercises storage offsets.
    c = CLIP["hidden_size"]
    qkv = torch.randn(3 * c, c, generator=gen) * 0.5
    for n, k in enumerate(("q", "k", "v")):
        clip_hf[f"text_model.encoder.layers.0.self_attn.{k}_proj.weight"] = qkv[n * c:(n + 1) * c]

    sd = collections.OrderedDict()
    for k in sorted(unet_ldm):
        sd["model.diffusion_model." + k] = unet_ldm[k]
    for k in sorted(vae_ldm):
        sd["first_stage_model." + k] = vae_ldm[k]
    for k in sorted(clip_hf):
        sd["cond_stage_model.transformer." + k] = clip_hf[k]
    # extras real SD1 checkpoints carry, which the loader must ignore
    sd["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
    sd["alphas_cumprod"] = torch.linspace(0.9991, 0.0047, 1000)
    sd["model_ema.decay"] = torch.tensor(0.9999)

    # diffusers' converters → diffusers-keyed dicts, loaded strictly into the real models
    unet = UNet2DConditionModel(**UNET)
    unet_d = convert_ldm_unet_checkpoint(dict(sd), dict(UNET))
    unet.load_state_dict(unet_d, strict=True)
    vae = AutoencoderKL(**VAE)
    vae_d = convert_ldm_vae_checkpoint(dict(sd), dict(VAE))
    vae.load_state_dict(vae_d, strict=True)
    clip_d = convert_ldm_clip_checkpoint(dict(sd))
    clip_d.pop("text_model.embeddings.position_ids")
    clip_model.load_state_dict(clip_d, strict=True)
    return sd, unet, vae, clip_model


def save_ckpt(obj, path, archive_name):
    # torch names the zip's top folder after the file; save through a buffer and rename the folder
    # so the fixture also covers a top folder that differs from the file name.
    buf = io.BytesIO()
    torch.save(obj, buf)
    zin = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    if archive_name is None:
        return
    # re-pack with a different top folder, keeping torch's 64-byte data alignment irrelevant
    # (readers must not rely on it)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            rest = info.filename.split("/", 1)[1]
            zout.writestr(archive_name + "/" + rest, zin.read(info.filename))


# ------------------------------------------------------------------ hostile pickles

def op_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def op_int(v):
    return b"J" + struct.pack("<i", v)


def tuple_of(ints):
    return b"(" + b"".join(op_int(v) for v in ints) + b"t"


def tensor_entry(name, key, storage_numel, offset, shape, stride, storage=b"FloatStorage"):
    pid = b"(" + op_str("storage") + b"ctorch\n" + storage + b"\n" + op_str(key) + op_str("cpu") + op_int(storage_numel) + b"t"
    return (op_str(name) + b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"Q" + op_int(offset) + tuple_of(shape)
            + tuple_of(stride) + b"\x89ccollections\nOrderedDict\n)Rt" + b"R" + b"s")


def state_dict_pickle(entries):
    return b"\x80\x02}" + b"".join(entries) + b"."


def write_zip(path, pkl, storages):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", "3\n")
        for k, data in storages.items():
            z.writestr("archive/data/" + k, data)


HOSTILE = {
    # name: (data.pkl bytes, storages)
    "os_system": (b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echoR.", {}),
    "posix_system": (b"\x80\x02}X\x01\x00\x00\x00acposix\nsystem\nX\x04\x00\x00\x00echo\x85Rs.", {}),
    # protocol-4 style: STACK_GLOBAL with the module and name as strings
    "builtins_eval": (b"\x80\x04\x95\x20\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x011\x94\x85\x94R\x94.", {}),
    # INST ('i') would instantiate a class by name: not a data opcode
    "inst_opcode": (b"\x80\x02(X\x01\x00\x00\x00aios\nsystem\n.", {}),
    "unknown_opcode": (b"\x80\x02}\xff.", {}),
    "truncated": (state_dict_pickle([tensor_entry("w", "0", 4, 0, (4,), (1,))])[:40], {"0": b"\0" * 16}),
    "missing_storage": (state_dict_pickle([tensor_entry("w", "7", 4, 0, (4,), (1,))]), {"0": b"\0" * 16}),
    "past_storage": (state_dict_pickle([tensor_entry("w", "0", 4, 2, (2, 2), (2, 1))]), {"0": b"\0" * 16}),
    "storage_too_small": (state_dict_pickle([tensor_entry("w", "0", 8, 0, (8,), (1,))]), {"0": b"\0" * 16}),
    "noncontiguous": (state_dict_pickle([tensor_entry("w", "0", 4, 0, (2, 2), (1, 2))]), {"0": b"\0" * 16}),
    "not_a_dict": (b"\x80\x02]q\x00.", {}),
    "memo_missing": (b"\x80\x02}h\x05s.", {}),
    "huge_memo_index": (b"\x80\x02}r\xff\xff\xff\x7f.", {}),
}


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT + "/hostile")
    sd, unet, vae, clip_model = build()

    plain = {k: v.contiguous().clone() for k, v in sd.items()}
    save_file(plain, OUT + "/tiny-ldm.safetensors", metadata={"format": "pt"})

    sd_meta = collections.OrderedDict(sd)
    sd_meta._metadata = collections.OrderedDict([("", {"version": 1})])
    save_ckpt({"state_dict": sd_meta, "global_step": 1}, OUT + "/tiny-ldm.ckpt", None)

    half = collections.OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in sd.items())
    save_ckpt({"epoch": 3, "global_step": 1, "state_dict": {"state_dict": half}}, OUT + "/tiny-ldm-fp16.ckpt", "mymodel")

    d = OUT + "/tiny-diffusers"
    unet.save_pretrained(d + "/unet")
    vae.save_pretrained(d + "/vae", variant="fp16")
    clip_model.save_pretrained(d + "/text_encoder", safe_serialization=False)
    with open(d + "/model_index.json", "w") as f:
        json.dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.31.0",
                   "text_encoder": ["transformers", "CLIPTextModel"], "unet": ["diffusers", "UNet2DConditionModel"],
                   "vae": ["diffusers", "AutoencoderKL"]}, f, indent=2)

    for name, (pkl, storages) in HOSTILE.items():
        write_zip(f"{OUT}/hostile/{name}.ckpt", pkl, storages)
    # seeds for tests/fuzz/fuzz_ckpt.c: b"\0" + a data.pkl (the target wraps it in a zip), or
    # b"\1" + a whole small checkpoint
    os.makedirs(OUT + "/fuzz-seeds")
    small = collections.OrderedDict()
    small["a"] = torch.arange(4, dtype=torch.float32)
    small["b"] = torch.zeros(2, 3, dtype=torch.float16)
    buf = io.BytesIO()
    torch.save({"state_dict": small, "global_step": 7}, buf)
    z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with open(OUT + "/fuzz-seeds/small_pkl.bin", "wb") as f:
        f.write(b"\0" + z.read("archive/data.pkl"))
    with open(OUT + "/fuzz-seeds/small_zip.bin", "wb") as f:
        f.write(b"\1" + buf.getvalue())
    for name in ("past_storage", "noncontiguous", "builtins_eval"):
        with open(f"{OUT}/fuzz-seeds/{name}_pkl.bin", "wb") as f:
            f.write(b"\0" + HOSTILE[name][0])

    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
