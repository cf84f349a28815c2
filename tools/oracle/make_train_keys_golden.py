"""Write the key lists kohya's train_network would save for the tiny model that
`sdlora init-model --preset tiny --seed 1` writes: every tensor name with its shape and dtype,
for a plain LoRA (both text encoder and UNet, dim 4, alpha 2, save_precision fp16) and a LoCon
(conv_dim 2, conv_alpha 1, UNet only, float).

Module selection is kohya's LoRANetwork.create_modules over the diffusers / transformers module
trees (class names; 1x1 convs and Linears at network_dim, k x k convs at conv_dim), written
here independently of sdlora's C code. Alpha is saved as a 0-dim tensor in the save dtype.

Writes tests/golden/train/tiny_keys_lora.txt and tiny_keys_locon.txt ("name dtype shape" lines,
sorted), checked by tests/check_train.sh.

Usage: tools/oracle/.venv/bin/python tools/oracle/make_train_keys_golden.py [path/to/sdlora]
"""
import os
import subprocess
import sys
import tempfile

from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "golden", "train")

UNET_T = ["Transformer2DModel"]
UNET_CONV = ["ResnetBlock2D", "Downsample2D", "Upsample2D"]
TE_T = ["CLIPAttention", "CLIPSdpaAttention", "CLIPMLP"]


def keys(root, prefix, classes, dim, conv_dim, dtype):
    out = []
    for name, module in root.named_modules():
        if module.__class__.__name__ not in classes:
            continue
        for child_name, child in module.named_modules():
            cls = child.__class__.__name__
            if cls not in ("Linear", "Conv2d"):
                continue
            if cls == "Linear":
                r = dim
                down, up = (r, child.in_features), (child.out_features, r)
            else:
                k = child.kernel_size
                if k == (1, 1):
                    r = dim
                elif conv_dim:
                    r = conv_dim
                else:
                    continue
                down, up = (r, child.in_channels) + tuple(k), (child.out_channels, r, 1, 1)
            n = (prefix + "." + name + "." + child_name).replace(".", "_")
            out.append((n + ".alpha", dtype, ()))
            out.append((n + ".lora_down.weight", dtype, down))
            out.append((n + ".lora_up.weight", dtype, up))
    return out


def write(path, entries):
    lines = sorted("%s %s %s" % (n, d, ",".join(str(x) for x in s) or "scalar") for n, d, s in set(entries))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", path, len(lines), "tensors")


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "sdlora")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([exe, "init-model", "--preset", "tiny", "--seed", "1", "--out", d, "--format", "diffusers"],
                       check=True, stdout=subprocess.DEVNULL)
        unet = UNet2DConditionModel.from_pretrained(os.path.join(d, "unet"))
        te = CLIPTextModel.from_pretrained(os.path.join(d, "text_encoder"))
    os.makedirs(OUT, exist_ok=True)
    lora = keys(te, "lora_te", TE_T, 4, 0, "F16") + keys(unet, "lora_unet", UNET_T, 4, 0, "F16")
    write(os.path.join(OUT, "tiny_keys_lora.txt"), lora)
    locon = keys(unet, "lora_unet", UNET_T + UNET_CONV, 4, 2, "F32")
    write(os.path.join(OUT, "tiny_keys_locon.txt"), locon)


if __name__ == "__main__":
    main()
