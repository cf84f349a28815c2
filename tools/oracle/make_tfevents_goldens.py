"""Goldens for src/io/tfevents.c (checked by tests/test_tfevents.c).

Reference: torch 2.5.1 torch.utils.tensorboard.SummaryWriter (over tensorboard 2.21.0's
EventFileWriter), the logger kohya's sd-scripts uses through accelerate.

Writes tests/golden/tfevents/:
  scalars.tfevents   the event file SummaryWriter wrote for the calls below (wall times differ
                     run to run; the C test ignores them)
  scalars.tsv        the calls, one per line: tag <TAB> step <TAB> value as float.hex()
                     (the C test replays them through tfevents_scalar)
"""
import glob
import os
import shutil
import sys
import tempfile

from torch.utils.tensorboard import SummaryWriter

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "tfevents")

# The tags sdlora's trainer writes (kohya §6.3), plus edge cases of the encoding: step 0
# (proto3 omits it), steps needing 1..9 varint bytes, 0.0 / negative / tiny / huge values,
# inf and nan, a double that rounds when stored as float, a tag longer than 127 bytes (two-byte
# length varint) and a non-ASCII tag.
CALLS = [
    ("loss/current", 0, 0.123456789),
    ("loss/average", 0, 0.123456789),
    ("lr/unet", 0, 1e-4),
    ("lr/textencoder", 0, 5e-5),
    ("loss/current", 1, 0.0),
    ("loss/current", 127, -1.5),
    ("loss/current", 128, 1e-30),
    ("loss/average", 300, 3.4e38),
    ("loss/current", 16384, float("inf")),
    ("loss/current", 2**31, float("-inf")),
    ("loss/current", 2**40 + 7, float("nan")),
    ("loss/epoch", 1, 0.1),
    ("lr/unet", 999, 2.5e-7),
    ("lr/textencoder", 1000, 1.0 / 3.0),
    ("lr/unet_block" + "x" * 130, 5, 42.0),
    ("loss/émoji ✓", 6, 7.0),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp()
    try:
        w = SummaryWriter(log_dir=tmp)
        for tag, step, value in CALLS:
            w.add_scalar(tag, value, step)
        w.close()
        files = glob.glob(os.path.join(tmp, "events.out.tfevents.*"))
        assert len(files) == 1, files
        shutil.copyfile(files[0], os.path.join(OUT, "scalars.tfevents"))
    finally:
        shutil.rmtree(tmp)
    with open(os.path.join(OUT, "scalars.tsv"), "w", encoding="utf-8") as f:
        for tag, step, value in CALLS:
            f.write(f"{tag}\t{step}\t{float(value).hex()}\n")
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
