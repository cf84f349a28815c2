"""Goldens for src/train/optim*.c and src/train/lr_schedule.c (checked by tests/test_optim.c).

References, as kohya's train_util.get_optimizer builds them:
  torch 2.5.1           torch.optim.AdamW, torch.optim.SGD(nesterov=True), clip_grad_norm_
  transformers 4.46.3   Adafactor, AdafactorSchedule, get_scheduler (the LR lambdas)
  lion-pytorch 0.2.3    Lion
  prodigyopt 1.1.2      Prodigy
  dadaptation 3.2       DAdaptAdam
(pip install prodigyopt==1.1.2 dadaptation==3.2 lion-pytorch==0.2.3 into tools/oracle/.venv.)

Writes tests/golden/optim/:
  inputs.safetensors   init.<i> (4 parameters: bias (16,), weight (16, 12), conv (4, 3, 3, 3),
                       zero-initialised LoRA-style up (8, 4, 1, 1)), grad.<s>.<i> for 10 steps,
                       clip.* (clip_grad_norm_ cases)
  <case>.safetensors   param.<s>.<i> after step s+1, lr (the LambdaLR multiplier each step used),
                       group_lr (base lr per group), d (Prodigy/DAdapt d after each step),
                       d_numerator (Prodigy's d_numerator, DAdaptAdam's numerator_weighted),
                       proxy_lr (Adafactor: AdafactorSchedule.get_last_lr() after each step);
                       metadata: optimizer, args (';'-separated, as typed after --optimizer_args),
                       groups ("0,1|2,3": parameter indices per group)
  schedules.safetensors  <case>: lr at optimizer steps 0..N for each scheduler case (F64),
                       metadata <case>.* with its settings
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from golden_io import save_sorted  # noqa: E402

import dadaptation  # noqa: E402
import lion_pytorch  # noqa: E402
import prodigyopt  # noqa: E402
import transformers  # noqa: E402
from transformers.optimization import Adafactor, AdafactorSchedule  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "optim")
STEPS = 10
SHAPES = [(16,), (16, 12), (4, 3, 3, 3), (8, 4, 1, 1)]
GROUPS = [[0, 1], [2, 3]]


def make_inputs():
    g = torch.Generator().manual_seed(20240611)
    init = [torch.randn(SHAPES[0], generator=g) * 0.1, torch.randn(SHAPES[1], generator=g) * 0.5,
            torch.randn(SHAPES[2], generator=g) * 0.3, torch.zeros(SHAPES[3])]
    # a fixed direction plus noise: Prodigy/D-Adaptation only grow d when successive gradients agree
    base = [torch.randn(s, generator=g) * (0.05 * (1 + i)) for i, s in enumerate(SHAPES)]
    grads = [[b + torch.randn(b.shape, generator=g) * (0.025 * (1 + i)) for i, b in enumerate(base)] for _ in range(STEPS)]
    return init, grads


def schedule_multipliers():
    # cosine with 2 warmup steps over 10: step 0 has lr 0, as kohya's first step with warmup
    return [transformers.optimization._get_cosine_schedule_with_warmup_lr_lambda(
        s, num_warmup_steps=2, num_training_steps=STEPS, num_cycles=0.5) for s in range(STEPS)]


def parse_args(args):
    import ast
    kw = {}
    for a in args:
        k, v = a.split("=")
        kw[k] = ast.literal_eval(v)
    return kw


def run_case(name, make_opt, group_lrs, args, init, grads, use_schedule=True, adafactor_proxy=False):
    params = [torch.nn.Parameter(t.clone()) for t in init]
    groups = [{"params": [params[i] for i in idx]} for idx in GROUPS]
    if group_lrs is not None:
        for grp, lr in zip(groups, group_lrs):
            grp["lr"] = lr
    opt = make_opt(groups, parse_args(args))
    mult = schedule_multipliers()
    if adafactor_proxy:
        sched = AdafactorSchedule(opt, initial_lr=1e-3)
    elif use_schedule:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: mult[s] if s < len(mult) else mult[-1])
    else:
        sched = None
    out, ds, nums, proxy = {}, [], [], []
    for s in range(STEPS):
        for p, gr in zip(params, grads[s]):
            p.grad = gr.clone()
        opt.step()
        if sched is not None:
            sched.step()
        if adafactor_proxy:
            proxy.append([float(x) for x in sched.get_last_lr()])  # floats now: the list aliases live tensors
        opt.zero_grad(set_to_none=True)
        for i, p in enumerate(params):
            out[f"param.{s}.{i}"] = p.detach().clone()
        ds.append(float(opt.param_groups[0].get("d", 1.0)))
        grp0 = opt.param_groups[0]
        nums.append(float(grp0.get("d_numerator", grp0.get("numerator_weighted", 0.0))))
    out["lr"] = torch.tensor(mult if use_schedule and not adafactor_proxy else [1.0] * STEPS, dtype=torch.float64)
    out["group_lr"] = torch.tensor(group_lrs if group_lrs is not None else [0.0, 0.0], dtype=torch.float64)
    out["d"] = torch.tensor(ds, dtype=torch.float64)
    out["d_numerator"] = torch.tensor(nums, dtype=torch.float64)  # Prodigy d_numerator / DAdapt numerator_weighted
    if adafactor_proxy:
        out["proxy_lr"] = torch.tensor(proxy, dtype=torch.float64)
    meta = {"optimizer": name.split("__")[0], "args": ";".join(args), "groups": "|".join(",".join(map(str, g)) for g in GROUPS),
            "torch": torch.__version__, "steps": STEPS}
    save_sorted(out, os.path.join(OUT, f"{name}.safetensors"), meta)


def adafactor(groups, kw):
    # kohya: relative_step defaults to True; then lr=None and group lrs are dropped
    kw.setdefault("relative_step", True)
    if kw["relative_step"]:
        for grp in groups:
            grp.pop("lr", None)
        return Adafactor(groups, lr=None, **kw)
    return Adafactor(groups, lr=1.0, **kw)


def sgd(groups, kw):
    kw.setdefault("momentum", 0.9)
    return torch.optim.SGD(groups, lr=1.0, nesterov=True, **kw)


CASES = [
    # name (optimizer kohya name [+ "__variant"]), factory, group base lrs, --optimizer_args
    ("AdamW", lambda g, kw: torch.optim.AdamW(g, lr=1.0, **kw), [1e-2, 5e-3], []),
    ("AdamW__args", lambda g, kw: torch.optim.AdamW(g, lr=1.0, **kw), [1e-2, 5e-3],
     ["weight_decay=0.1", "betas=0.8,0.95", "eps=1e-6", "amsgrad=True"]),
    ("Lion", lambda g, kw: lion_pytorch.Lion(g, lr=1.0, **kw), [1e-3, 5e-4], ["weight_decay=0.5"]),
    ("SGDNesterov", sgd, [1e-1, 5e-2], ["weight_decay=1e-3"]),
    ("Adafactor", adafactor, None, []),
    ("Adafactor__fixed", adafactor, [1e-2, 5e-3],
     ["relative_step=False", "scale_parameter=False", "beta1=0.9", "weight_decay=0.01"]),
    ("Adafactor__scaled", adafactor, [1e-1, 5e-2], ["relative_step=False", "warmup_init=False", "clip_threshold=0.5"]),
    ("Prodigy", lambda g, kw: prodigyopt.Prodigy(g, lr=1.0, **kw), [1.0, 1.0], ["weight_decay=0.01"]),
    ("Prodigy__variant", lambda g, kw: prodigyopt.Prodigy(g, lr=1.0, **kw), [1.0, 1.0],
     ["use_bias_correction=True", "safeguard_warmup=True", "slice_p=3", "decouple=False", "weight_decay=0.01",
      "d_coef=2", "beta3=0.98"]),
    ("DAdaptAdam", lambda g, kw: dadaptation.DAdaptAdam(g, lr=1.0, **kw), [1.0, 1.0], []),
    ("DAdaptAdam__variant", lambda g, kw: dadaptation.DAdaptAdam(g, lr=1.0, **kw), [1.0, 1.0],
     ["decouple=True", "weight_decay=0.01", "use_bias_correction=True", "betas=(0.9, 0.99)"]),
]


def make_schedules():
    from transformers.optimization import get_scheduler
    out, meta = {}, {}
    # (case, kohya --lr_scheduler, --lr_warmup_steps text, max_train_steps, num_processes, num_cycles, power, lr)
    cases = [
        ("constant", "constant", "0", 20, 1, 1, 1.0, 1e-4),
        ("constant_with_warmup", "constant_with_warmup", "5", 20, 1, 1, 1.0, 1e-4),
        ("linear", "linear", "0", 20, 1, 1, 1.0, 1e-4),
        ("linear_warmup", "linear", "5", 20, 1, 1, 1.0, 1e-4),
        ("linear_np2", "linear", "3", 20, 2, 1, 1.0, 1e-4),
        ("cosine", "cosine", "0", 20, 1, 1, 1.0, 1e-4),
        ("cosine_ratio", "cosine", "0.1", 20, 1, 1, 1.0, 1e-4),
        ("cosine_percent", "cosine", "15%", 20, 1, 1, 1.0, 1e-4),
        ("cosine_with_restarts", "cosine_with_restarts", "0", 20, 1, 1, 1.0, 1e-4),
        ("cosine_with_restarts_3", "cosine_with_restarts", "4", 20, 1, 3, 1.0, 1e-4),
        ("polynomial", "polynomial", "0", 20, 1, 1, 1.0, 1e-4),
        ("polynomial_pow2", "polynomial", "5", 20, 1, 1, 2.0, 1e-3),
    ]
    for case, sched, warm, max_steps, nproc, cycles, power, lr in cases:
        total = max_steps * nproc  # kohya: args.max_train_steps * num_processes
        if warm.endswith("%"):
            w = int(float(warm[:-1]) / 100.0 * total)
        elif float(warm) < 1:
            w = int(float(warm) * total)
        else:
            w = int(warm)
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=lr)
        kwargs = {}
        if sched == "cosine_with_restarts":
            kwargs["scheduler_specific_kwargs"] = {"num_cycles": cycles}
        if sched == "polynomial":
            kwargs["scheduler_specific_kwargs"] = {"power": power}
        s = get_scheduler(sched, opt, num_warmup_steps=w, num_training_steps=total, **kwargs)
        lrs = []
        for _ in range(max_steps + 5):
            lrs.append(opt.param_groups[0]["lr"])
            for _ in range(nproc):  # accelerate steps the scheduler num_processes times
                s.step()
        out[case] = torch.tensor(lrs, dtype=torch.float64)
        for k, v in (("scheduler", sched), ("warmup", warm), ("max_train_steps", max_steps), ("num_processes", nproc),
                     ("num_cycles", cycles), ("power", power), ("lr", repr(lr))):
            meta[f"{case}.{k}"] = v
    meta["cases"] = ",".join(c[0] for c in cases)
    save_sorted(out, os.path.join(OUT, "schedules.safetensors"), meta)


def main():
    os.makedirs(OUT, exist_ok=True)
    init, grads = make_inputs()
    inputs = {f"init.{i}": t for i, t in enumerate(init)}
    for s in range(STEPS):
        for i, gr in enumerate(grads[s]):
            inputs[f"grad.{s}.{i}"] = gr
    # clip_grad_norm_: the first step's grads × 10 (norm > 1: clipped) and × 0.1 (norm < 1: untouched)
    for case, scale in (("big", 10.0), ("small", 0.1)):
        gs = [gr * scale for gr in grads[0]]
        for i, gr in enumerate(gs):
            inputs[f"clip.{case}.in.{i}"] = gr.clone()
        ps = [torch.nn.Parameter(torch.zeros_like(gr)) for gr in gs]
        for p, gr in zip(ps, gs):
            p.grad = gr.clone()
        norm = torch.nn.utils.clip_grad_norm_(ps, 1.0)
        for i, p in enumerate(ps):
            inputs[f"clip.{case}.out.{i}"] = p.grad.clone()
        inputs[f"clip.{case}.norm"] = norm.reshape(1).clone()
    save_sorted(inputs, os.path.join(OUT, "inputs.safetensors"), {"steps": STEPS, "torch": torch.__version__})
    for name, factory, group_lrs, args in CASES:
        run_case(name, factory, group_lrs, args, init, grads, adafactor_proxy=(name == "Adafactor"))
    make_schedules()


if __name__ == "__main__":
    main()
