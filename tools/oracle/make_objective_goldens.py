"""Goldens for src/train/objective.c (checked by tests/test_objective.c).

The reference re-states kohya sd-scripts' step math (kohya-spec.md §3.1–3.5:
train_util.get_noise_noisy_latents_and_timesteps, custom_train_functions.apply_noise_offset /
pyramid_noise_like / apply_snr_weight / scale_v_prediction_loss_like_noise_prediction /
add_v_prediction_like_loss / apply_debiased_estimation /
fix_noise_scheduler_betas_for_zero_terminal_snr, train_util.conditional_loss /
get_huber_threshold_if_needed) on diffusers 0.31's DDPMScheduler (add_noise, get_velocity),
with torch 2.5.1 drawing the random numbers: torch.manual_seed(S) and random.seed(S) are what
sdlora's Rng and PyRandom replay, so the noise compares at float32 rounding level.

Writes tests/golden/objective/:
  schedule.safetensors  alphas_cumprod, all_snr, alphas_cumprod_ztsnr (1000 each, float32 as
                        kohya's scheduler holds them; all_snr is the same with zero terminal SNR)
  noise.safetensors     per case <c>.latents (input), <c>.noise, <c>.t (I64), <c>.noisy,
                        <c>.target (v-prediction cases; epsilon's target is <c>.noise); metadata <c>.config ("key=value ..." of ObjectiveConfig
                        fields), <c>.seed, <c>.shape ("B,C,H,W"), cases (comma list).
                        float32 arithmetic, as kohya runs it.
  loss.safetensors      pred, target (4, 4, 4, 4), t (I64), weights (4); per case <c>.loss (1),
                        <c>.per_sample (4), <c>.dpred (autograd): float64 from the float32 inputs
                        and float32 tables; metadata <c>.config, cases.

Usage: tools/oracle/.venv/bin/python tools/oracle/make_objective_goldens.py
"""
import math
import os
import random
import sys

import torch
from diffusers import DDPMScheduler

sys.path.insert(0, os.path.dirname(__file__))
from golden_io import save_sorted  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "objective")

DEFAULTS = dict(noise_offset=0.0, noise_offset_random_strength=0, adaptive_noise_scale=0.0,
                multires_noise_iterations=0, multires_noise_discount=0.3, ip_noise_gamma=0.0,
                ip_noise_gamma_random_strength=0, min_timestep=0, max_timestep=1000, v_parameterization=0,
                zero_terminal_snr=0, loss_type="l2", huber_schedule="snr", huber_c=0.1, huber_scale=1.0,
                min_snr_gamma=0.0, scale_v_pred_loss_like_noise_pred=0, v_pred_like_loss=0.0,
                debiased_estimation_loss=0)


class Cfg(dict):
    __getattr__ = dict.__getitem__


def cfg(**kw):
    c = Cfg(DEFAULTS)
    for k, v in kw.items():
        assert k in c, k
        c[k] = v
    return c


def config_text(c):
    """Only the fields that differ from the defaults, as the C test parses them."""
    return " ".join(f"{k}={c[k]}" for k in DEFAULTS if c[k] != DEFAULTS[k])


# ---- the scheduler as kohya's train_network holds it ------------------------------------------

def make_scheduler(zero_terminal_snr):
    s = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                      clip_sample=False)
    # prepare_scheduler_for_custom_training: SNR of the schedule as first built
    s.all_snr = (torch.sqrt(s.alphas_cumprod) / torch.sqrt(1.0 - s.alphas_cumprod)) ** 2
    if zero_terminal_snr:
        # Lin et al. 2023: shift sqrt(alpha_bar) so the last is 0, rescale to keep the first
        abar_sqrt = (1 - s.betas).cumprod(0).sqrt()
        first, last = abar_sqrt[0].clone(), abar_sqrt[-1].clone()
        abar_sqrt = (abar_sqrt - last) * (first / (first - last))
        abar = abar_sqrt ** 2
        alphas = torch.cat([abar[0:1], abar[1:] / abar[:-1]])
        betas = 1 - alphas
        s.betas = betas
        s.alphas = 1.0 - betas
        s.alphas_cumprod = torch.cumprod(s.alphas, dim=0)
    return s


# ---- noise (float32, torch ops in kohya's order) ----------------------------------------------

def pyramid(noise, iterations, discount):
    b, c, h, w = noise.shape
    up = torch.nn.Upsample(size=(h, w), mode="bilinear")
    for i in range(iterations):
        r = random.random() * 2 + 2
        hn, wn = max(1, int(h / (r ** i))), max(1, int(w / (r ** i)))
        noise += up(torch.randn(b, c, hn, wn)) * discount ** i
        if hn == 1 or wn == 1:
            break
    return noise / noise.std()


def kohya_noise(c, sched, latents, seed):
    torch.manual_seed(seed)
    random.seed(seed)
    noise = torch.randn_like(latents)
    if c.noise_offset:
        offset = torch.rand(1) * c.noise_offset if c.noise_offset_random_strength else c.noise_offset
        if c.adaptive_noise_scale:
            mean = torch.abs(latents.mean(dim=(2, 3), keepdim=True))
            offset = torch.clamp(offset + c.adaptive_noise_scale * mean, 0.0, None)
        noise = noise + offset * torch.randn((latents.shape[0], latents.shape[1], 1, 1))
    if c.multires_noise_iterations:
        noise = pyramid(noise, c.multires_noise_iterations, c.multires_noise_discount)
    B = latents.shape[0]
    if c.min_timestep < c.max_timestep:
        t = torch.randint(c.min_timestep, c.max_timestep, (B,))
    else:
        t = torch.full((B,), c.max_timestep)
    if c.ip_noise_gamma:
        strength = torch.rand(1) * c.ip_noise_gamma if c.ip_noise_gamma_random_strength else c.ip_noise_gamma
        noisy = sched.add_noise(latents, noise + strength * torch.randn_like(latents), t)
    else:
        noisy = sched.add_noise(latents, noise, t)
    target = sched.get_velocity(latents, noise, t) if c.v_parameterization else noise
    return noise, t, noisy, target


NOISE_CASES = [
    ("plain", (2, 4, 8, 6), cfg()),
    ("offset", (2, 4, 8, 6), cfg(noise_offset=0.1)),
    # B·C = 16: the offset's randn(B, C, 1, 1) takes torch's vectorised path
    ("offset_random_adaptive", (4, 4, 6, 6), cfg(noise_offset=0.05, noise_offset_random_strength=1,
                                                 adaptive_noise_scale=0.02)),
    # o + a·|mean| < 0 for the channels with a large |mean|: those are clamped to 0
    ("adaptive_clamped", (2, 4, 8, 8), cfg(noise_offset=0.3, adaptive_noise_scale=-0.5)),
    ("multires", (2, 4, 12, 10), cfg(multires_noise_iterations=6, multires_noise_discount=0.3)),
    ("multires_square", (1, 4, 12, 12), cfg(multires_noise_iterations=10, multires_noise_discount=0.4)),
    ("everything_v", (2, 4, 12, 8), cfg(noise_offset=0.1, noise_offset_random_strength=1, adaptive_noise_scale=0.05,
                                        multires_noise_iterations=4, ip_noise_gamma=0.1,
                                        ip_noise_gamma_random_strength=1, min_timestep=200, max_timestep=800,
                                        v_parameterization=1, zero_terminal_snr=1)),
    ("ip_gamma", (2, 4, 8, 6), cfg(ip_noise_gamma=0.1)),
    ("fixed_t", (3, 4, 4, 4), cfg(min_timestep=999, max_timestep=999, v_parameterization=1, zero_terminal_snr=1)),
]


def noise_goldens():
    out, meta = {}, {"cases": ",".join(n for n, _, _ in NOISE_CASES), "torch": torch.__version__}
    scheds = {z: make_scheduler(z) for z in (0, 1)}
    for i, (name, shape, c) in enumerate(NOISE_CASES):
        g = torch.Generator().manual_seed(1000 + i)
        # per-channel offsets, so |mean| (adaptive_noise_scale) differs per (b, c)
        latents = torch.randn(shape, generator=g) + torch.randn(shape[0], shape[1], 1, 1, generator=g) * 0.8
        seed = 4242 + 17 * i
        noise, t, noisy, target = kohya_noise(c, scheds[c.zero_terminal_snr], latents, seed)
        out.update({f"{name}.latents": latents, f"{name}.noise": noise, f"{name}.t": t.to(torch.int64),
                    f"{name}.noisy": noisy})
        if c.v_parameterization:  # the epsilon target is the noise itself
            out[f"{name}.target"] = target
        meta[f"{name}.config"] = config_text(c)
        meta[f"{name}.seed"] = seed
        meta[f"{name}.shape"] = ",".join(str(x) for x in shape)
    save_sorted(out, os.path.join(OUT, "noise.safetensors"), meta)


# ---- loss (float64 reference) -----------------------------------------------------------------

def huber_c(c, sched, t):
    if c.huber_schedule == "exponential":
        alpha = -math.log(c.huber_c) / 1000
        return torch.exp(-alpha * t.double()) * c.huber_scale
    if c.huber_schedule == "snr":
        ac = sched.alphas_cumprod.double()[t]
        sigma = ((1.0 - ac) / ac) ** 0.5
        return (1 - c.huber_c) / (1 + sigma) ** 2 + c.huber_c
    return torch.full(t.shape, c.huber_c * c.huber_scale, dtype=torch.float64)


def element_loss(c, pred, target, hc):
    if c.loss_type == "l2":
        return torch.nn.functional.mse_loss(pred, target, reduction="none")
    if c.loss_type == "l1":
        return torch.nn.functional.l1_loss(pred, target, reduction="none")
    hc = hc.view(-1, 1, 1, 1)
    root = torch.sqrt((pred - target) ** 2 + hc ** 2) - hc
    return 2 * hc * root if c.loss_type == "huber" else 2 * root


def post_process(c, sched, loss, t):
    snr = sched.all_snr.double()[t]
    capped = torch.minimum(snr, torch.full_like(snr, 1000.0))
    if c.min_snr_gamma:
        m = torch.minimum(snr, torch.full_like(snr, c.min_snr_gamma))
        loss = loss * (m / (snr + 1) if c.v_parameterization else m / snr)
    if c.scale_v_pred_loss_like_noise_pred:
        loss = loss * (capped / (capped + 1))
    if c.v_pred_like_loss:
        loss = loss + loss / (capped / (capped + 1)) * c.v_pred_like_loss
    if c.debiased_estimation_loss:
        loss = loss * (1 / (capped + 1) if c.v_parameterization else 1 / torch.sqrt(capped))
    return loss


LOSS_CASES = [
    ("l2", cfg()),
    ("l1", cfg(loss_type="l1")),
    ("huber_snr", cfg(loss_type="huber", huber_c=0.1)),
    ("huber_exponential", cfg(loss_type="huber", huber_schedule="exponential", huber_c=0.2, huber_scale=1.5)),
    ("huber_constant", cfg(loss_type="huber", huber_schedule="constant", huber_c=0.3, huber_scale=2.0)),
    ("smooth_l1_snr", cfg(loss_type="smooth_l1", huber_c=0.05)),
    ("smooth_l1_exponential", cfg(loss_type="smooth_l1", huber_schedule="exponential", huber_c=0.1)),
    ("smooth_l1_constant", cfg(loss_type="smooth_l1", huber_schedule="constant", huber_c=0.5, huber_scale=0.5)),
    ("min_snr_eps", cfg(min_snr_gamma=5.0)),
    ("min_snr_v", cfg(min_snr_gamma=5.0, v_parameterization=1)),
    ("scale_v_pred", cfg(scale_v_pred_loss_like_noise_pred=1, v_parameterization=1)),
    ("v_pred_like", cfg(v_pred_like_loss=0.2)),
    ("debiased_eps", cfg(debiased_estimation_loss=1)),
    ("debiased_v", cfg(debiased_estimation_loss=1, v_parameterization=1)),
    ("combined_ztsnr", cfg(loss_type="huber", zero_terminal_snr=1, min_snr_gamma=1.0, debiased_estimation_loss=1,
                           v_pred_like_loss=0.1)),
]


def loss_goldens():
    g = torch.Generator().manual_seed(77)
    B = 4
    pred = torch.randn(B, 4, 4, 4, generator=g)
    target = pred + torch.randn(B, 4, 4, 4, generator=g) * torch.tensor([0.05, 0.3, 1.0, 3.0]).view(-1, 1, 1, 1)
    pred[0, 0, 0, :2] = target[0, 0, 0, :2]  # d = 0 exactly (l1's sign(0) = 0)
    t = torch.tensor([0, 1, 500, 999], dtype=torch.int64)  # t = 0: SNR above kohya's 1000 cap
    weights = torch.tensor([1.0, 0.5, 2.0, 1.0])
    out = {"pred": pred, "target": target, "t": t, "weights": weights}
    meta = {"cases": ",".join(n for n, _ in LOSS_CASES), "torch": torch.__version__}
    scheds = {z: make_scheduler(z) for z in (0, 1)}
    for name, c in LOSS_CASES:
        sched = scheds[c.zero_terminal_snr]
        p = pred.double().requires_grad_(True)
        hc = huber_c(c, sched, t)
        per = element_loss(c, p, target.double(), hc).mean([1, 2, 3]) * weights.double()
        per = post_process(c, sched, per, t)
        loss = per.mean()
        loss.backward()
        out[f"{name}.loss"] = loss.detach().float().reshape(1)
        out[f"{name}.per_sample"] = per.detach().float()
        out[f"{name}.dpred"] = p.grad.float()
        meta[f"{name}.config"] = config_text(c)
    save_sorted(out, os.path.join(OUT, "loss.safetensors"), meta)


def schedule_golden():
    s0, s1 = make_scheduler(0), make_scheduler(1)
    assert torch.equal(s0.all_snr, s1.all_snr)  # SNR weights keep the original schedule
    save_sorted({"alphas_cumprod": s0.alphas_cumprod, "all_snr": s0.all_snr,
                 "alphas_cumprod_ztsnr": s1.alphas_cumprod},
                os.path.join(OUT, "schedule.safetensors"), {"torch": torch.__version__})


def main():
    os.makedirs(OUT, exist_ok=True)
    schedule_golden()
    noise_goldens()
    loss_goldens()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT}: {total / 1024:.0f} KB")


if __name__ == "__main__":
    main()
