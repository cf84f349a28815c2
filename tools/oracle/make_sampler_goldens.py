"""Goldens for the samplers (src/sample/sampler.c) from diffusers 0.31's schedulers.

Each sampler runs the loop StableDiffusionPipeline / kohya's sample_images run
(latents = randn(generator) * init_noise_sigma; for t: out = model(scale_model_input(x, t), t);
x = step(out, t, x, eta/generator).prev_sample), with a fake denoiser instead of the UNet:

    out = 0.7 * x_in + 0.2 * tanh(x_in) + (0.05 * t / 1000) * x_in + field

(smooth, nonlinear, depends on t, and close enough to a real ε-predictor (ε ≈ x_t at high t)
that the latents stay O(1); `field` is a fixed 0.1 * randn field stored in the file;
tests/test_samplers.c evaluates the same formula in C). The scheduler is built exactly as
kohya's get_my_scheduler builds it (class defaults + scaled_linear 0.00085/0.012, v_prediction
if asked, clip_sample forced True where the class has it False).

Writes tests/golden/samplers/<case>.safetensors (x_init, field, final, x_call<k> for the
first calls, timesteps, sigmas) and tests/golden/samplers/schedules.safetensors (ᾱ, σ table,
timesteps of every spacing for a few step counts).
"""
import os
import sys

import numpy as np
import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler,
                       KDPM2AncestralDiscreteScheduler, KDPM2DiscreteScheduler, LMSDiscreteScheduler,
                       PNDMScheduler)
import diffusers

sys.path.insert(0, os.path.dirname(__file__))
from golden_io import save_sorted  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "samplers")
SHAPE = (1, 4, 8, 8)


def kohya_scheduler(name, v_param, force_clip=True, **override):
    """library/train_util.py:get_my_scheduler, plus test-only overrides."""
    extra = {}
    cls = {"ddim": DDIMScheduler, "pndm": PNDMScheduler, "lms": LMSDiscreteScheduler,
           "k_lms": LMSDiscreteScheduler, "euler": EulerDiscreteScheduler, "k_euler": EulerDiscreteScheduler,
           "euler_a": EulerAncestralDiscreteScheduler, "k_euler_a": EulerAncestralDiscreteScheduler,
           "dpmsolver": DPMSolverMultistepScheduler, "dpmsolver++": DPMSolverMultistepScheduler,
           "dpmsingle": DPMSolverSinglestepScheduler, "heun": HeunDiscreteScheduler,
           "dpm_2": KDPM2DiscreteScheduler, "k_dpm_2": KDPM2DiscreteScheduler,
           "dpm_2_a": KDPM2AncestralDiscreteScheduler, "k_dpm_2_a": KDPM2AncestralDiscreteScheduler}[name]
    if name in ("dpmsolver", "dpmsolver++"):
        extra["algorithm_type"] = name
    if name == "dpmsolver":
        # diffusers >= 0.26 rejects "dpmsolver" with final_sigmas_type "zero".
        extra["final_sigmas_type"] = "sigma_min"
    if v_param:
        extra["prediction_type"] = "v_prediction"
    extra.update(override)
    s = cls(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", **extra)
    if force_clip and hasattr(s.config, "clip_sample") and s.config.clip_sample is False:
        s.config.clip_sample = True
    return s


def fake_model(x, t, field):
    c = 0.05 * float(t) / 1000.0
    return 0.7 * x + 0.2 * torch.tanh(x) + c * x + field


def base_sigmas(s, name):
    """The per-step sigmas (steps + 1) in the layout sdlora's SamplerPlan keeps."""
    if not hasattr(s, "sigmas") or name in ("ddim", "pndm"):
        return torch.zeros(0)
    sig = s.sigmas.double()
    if name == "heun":
        return torch.cat([sig[0::2], sig[-1:]])
    if name in ("dpm_2", "k_dpm_2", "dpm_2_a", "k_dpm_2_a"):
        return sig[0::2]
    return sig


def run_case(case, name, v_param, steps, seed, eta=0.0, **override):
    # "_sd_" cases use SD's own scheduler_config (clip_sample False stays False).
    s = kohya_scheduler(name, v_param, force_clip="_sd_" not in case, **override)
    s.set_timesteps(steps)
    timesteps = s.timesteps.clone()
    sigmas = base_sigmas(s, name)
    field = 0.1 * torch.randn(SHAPE, generator=torch.Generator().manual_seed(4242))
    g = torch.Generator().manual_seed(seed)
    x_init = torch.randn(SHAPE, generator=g)
    x = x_init * s.init_noise_sigma
    kw = {}
    import inspect
    params = inspect.signature(s.step).parameters
    if "eta" in params:
        kw["eta"] = eta
    if "generator" in params:
        kw["generator"] = g
    tensors = {"x_init": x_init, "field": field}
    for k, t in enumerate(s.timesteps):
        xin = s.scale_model_input(x, t)
        out = fake_model(xin, t, field)
        x = s.step(out, t, x, **kw).prev_sample
        if k < 3:
            tensors[f"x_call{k}"] = x.clone()
    tensors["final"] = x
    tensors["timesteps"] = timesteps.double()
    tensors["sigmas"] = sigmas.double()
    meta = {"sampler": name, "v_param": int(v_param), "steps": steps, "seed": seed, "eta": repr(eta),
            "karras": int(override.get("use_karras_sigmas", False)),
            "skip_prk_steps": int(override.get("skip_prk_steps", False)),
            "steps_offset": override.get("steps_offset", 0),
            "spacing": override.get("timestep_spacing", ""),
            "n_calls": len(timesteps), "torch": torch.__version__, "diffusers": diffusers.__version__}
    save_sorted(tensors, os.path.join(OUT, case + ".safetensors"), meta)
    return x


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for name in ("ddim", "pndm", "lms", "euler", "euler_a", "heun", "dpm_2", "dpm_2_a",
                 "dpmsolver", "dpmsolver++", "dpmsingle"):
        for steps in (10, 25):
            cases.append((f"{name}_eps_{steps}", name, False, steps, 1000 + steps, 0.0, {}))
    # v_prediction for a few, eta > 0 DDIM, Karras sigmas, PLMS without PRK (SD's config),
    # odd T//N for PNDM's half step, N >= 15 for DPM++ 2M's second-order final step.
    cases += [
        ("ddim_v_10", "ddim", True, 10, 7, 0.0, {}),
        ("euler_v_10", "euler", True, 10, 7, 0.0, {}),
        ("euler_a_v_10", "euler_a", True, 10, 7, 0.0, {}),
        ("dpmsolver++_v_10", "dpmsolver++", True, 10, 7, 0.0, {}),
        ("heun_v_10", "heun", True, 10, 7, 0.0, {}),
        ("dpm_2_a_v_10", "dpm_2_a", True, 10, 7, 0.0, {}),
        ("pndm_v_9", "pndm", True, 9, 7, 0.0, {}),
        ("lms_v_10", "lms", True, 10, 7, 0.0, {}),
        ("dpmsingle_v_9", "dpmsingle", True, 9, 7, 0.0, {}),
        ("ddim_eta1_10", "ddim", False, 10, 11, 1.0, {}),
        ("ddim_eta05_sd_10", "ddim", False, 10, 11, 0.5,
         {"steps_offset": 1, "set_alpha_to_one": False, "clip_sample": False}),
        ("pndm_plms_sd_20", "pndm", False, 20, 12, 0.0, {"skip_prk_steps": True, "steps_offset": 1}),
        ("pndm_eps_9", "pndm", False, 9, 13, 0.0, {}),
        ("dpmsolver++_karras_20", "dpmsolver++", False, 20, 14, 0.0, {"use_karras_sigmas": True}),
        ("dpmsolver++_karras_10", "dpmsolver++", False, 10, 14, 0.0, {"use_karras_sigmas": True}),
        ("euler_karras_10", "euler", False, 10, 15, 0.0, {"use_karras_sigmas": True}),
        ("lms_karras_10", "lms", False, 10, 15, 0.0, {"use_karras_sigmas": True}),
        ("dpm_2_karras_10", "dpm_2", False, 10, 15, 0.0, {"use_karras_sigmas": True}),
        ("euler_leading_10", "euler", False, 10, 16, 0.0, {"timestep_spacing": "leading", "steps_offset": 1}),
        ("euler_a_trailing_10", "euler_a", False, 10, 16, 0.0, {"timestep_spacing": "trailing"}),
    ]
    names = []
    for case, name, v, steps, seed, eta, ov in cases:
        x = run_case(case, name, v, steps, seed, eta, **ov)
        names.append(case)
        print(f"{case:28s} final range [{x.min():.3f}, {x.max():.3f}]")
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(names) + "\n")

    # schedule tables and spacings
    s = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    tensors = {"alphas_cumprod": s.alphas_cumprod.double(),
               "sigmas": (((1 - s.alphas_cumprod) / s.alphas_cumprod) ** 0.5).double()}
    for steps in (1, 3, 7, 10, 30, 50, 1000):
        for sp in ("leading", "trailing", "linspace"):
            for off in (0, 1):
                d = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                  beta_schedule="scaled_linear", timestep_spacing=sp, steps_offset=off)
                d.set_timesteps(steps)
                tensors[f"ddim_{sp}_off{off}_{steps}"] = d.timesteps.double()
                e = EulerDiscreteScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                           beta_schedule="scaled_linear", timestep_spacing=sp, steps_offset=off)
                e.set_timesteps(steps)
                tensors[f"euler_{sp}_off{off}_{steps}_t"] = e.timesteps.double()
                tensors[f"euler_{sp}_off{off}_{steps}_sigmas"] = e.sigmas.double()
    # sigma -> t on a sweep (diffusers _sigma_to_t)
    e = EulerDiscreteScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                               beta_schedule="scaled_linear")
    log_sigmas = np.log(np.array(((1 - e.alphas_cumprod) / e.alphas_cumprod) ** 0.5))
    sweep = np.exp(np.linspace(np.log(0.01), np.log(20.0), 97))
    tensors["sigma_sweep"] = torch.from_numpy(sweep)
    tensors["sigma_sweep_t"] = torch.from_numpy(np.array([e._sigma_to_t(np.array(v), log_sigmas) for v in sweep]))
    save_sorted(tensors, os.path.join(OUT, "schedules.safetensors"),
                {"torch": torch.__version__, "diffusers": diffusers.__version__})


if __name__ == "__main__":
    main()
