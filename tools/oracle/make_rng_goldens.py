"""Write tests/golden/rng.safetensors: PyTorch CPU generator outputs for tests/test_rng.c.

Produces, for seeds 0, 42 and 2**32+5 (torch.manual_seed before each draw):
  rand_s{seed}_n{n}          torch.rand(n)                     F32
  randn_s{seed}_n{n}         torch.randn(n)                    F32  (this CPU's vectorised path)
  randn_generic_s{seed}_n{n} torch.randn(n) under ATEN_CPU_CAPABILITY=default (scalar libm path)
  rand_f64_s{seed}           torch.rand(7, dtype=float64)      F64
  randint_big_s{seed}        torch.randint(0, 2**40, (6,))     I64  (64-bit draw path)
for n in {1, 5, 15, 16, 17, 100, 4*64*64}; and call sequences on one generator (seed 42):
  seqA_randn5, seqA_rand7, seqA_randint8, seqA_randn3   randn(5) rand(7) randint(0,1000,(8,)) randn(3)
  seqB_randn20, seqB_rand3, seqB_randint8, seqB_randn17 randn(20) rand(3) randint(0,1000,(8,)) randn(17)
and randn_shape_2x4x8x8 (seed 0, shape (2,4,8,8)).
Metadata records the torch version and the CPU capability that produced randn_*.

The vectorised path is only taken on an AVX2/AVX-512 CPU; the script refuses to run elsewhere
because the goldens would then not describe what x86 users' torch does.
Usage: tools/oracle/.venv/bin/python tools/oracle/make_rng_goldens.py [out_path]
"""
import os
import subprocess
import sys

import torch

from golden_io import save_sorted

SEEDS = [0, 42, 2**32 + 5]
SIZES = [1, 5, 15, 16, 17, 100, 4 * 64 * 64]
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def randn_table():
    """randn_s{seed}_n{n} for every seed and size, on this process's CPU capability."""
    out = {}
    for s in SEEDS:
        for n in SIZES:
            torch.manual_seed(s)
            out[f"s{s}_n{n}"] = torch.randn(n)
    return out


def generic_randn():
    """The same table from a child process forced onto torch's non-vectorised kernels."""
    tmp = os.path.join(REPO, "tests", "golden", ".rng_generic.tmp.safetensors")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    code = ("import sys; sys.path.insert(0, %r); import make_rng_goldens as m, torch;"
            "from safetensors.torch import save_file;"
            "assert torch.backends.cpu.get_cpu_capability() in ('DEFAULT', 'NO AVX');"
            "save_file(m.randn_table(), %r)") % (HERE, tmp)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    from safetensors.torch import load_file
    table = load_file(tmp)
    os.remove(tmp)
    return table


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "tests", "golden", "rng.safetensors")
    cap = torch.backends.cpu.get_cpu_capability()
    if cap not in ("AVX2", "AVX512"):
        sys.exit(f"CPU capability is {cap}: run on an AVX2 machine so randn_* uses torch's vectorised fill")

    t = {}
    for s in SEEDS:
        for n in SIZES:
            torch.manual_seed(s)
            t[f"rand_s{s}_n{n}"] = torch.rand(n)
        torch.manual_seed(s)
        t[f"rand_f64_s{s}"] = torch.rand(7, dtype=torch.float64)
        torch.manual_seed(s)
        t[f"randint_big_s{s}"] = torch.randint(0, 2**40, (6,))
    for k, v in randn_table().items():
        t["randn_" + k] = v
    for k, v in generic_randn().items():
        t["randn_generic_" + k] = v

    torch.manual_seed(42)
    t["seqA_randn5"] = torch.randn(5)
    t["seqA_rand7"] = torch.rand(7)
    t["seqA_randint8"] = torch.randint(0, 1000, (8,))
    t["seqA_randn3"] = torch.randn(3)   # starts with the normal cached by randn(5)
    torch.manual_seed(42)
    t["seqB_randn20"] = torch.randn(20)
    t["seqB_rand3"] = torch.rand(3)
    t["seqB_randint8"] = torch.randint(0, 1000, (8,))
    t["seqB_randn17"] = torch.randn(17)
    torch.manual_seed(0)
    t["randn_shape_2x4x8x8"] = torch.randn(2, 4, 8, 8)

    meta = {"torch": torch.__version__, "cpu_capability": cap,
            "seeds": ",".join(str(s) for s in SEEDS), "sizes": ",".join(str(n) for n in SIZES)}
    save_sorted(t, out_path, meta)
    print(f"wrote {out_path}: {len(t)} tensors ({os.path.getsize(out_path)} bytes), capability {cap}")


if __name__ == "__main__":
    main()
