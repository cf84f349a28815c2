"""Write tests/golden/ops/<case>.safetensors: PyTorch references for every op in src/ops.

Each file holds one case of one op: its float32 inputs, a random upstream gradient `dout`,
the forward outputs and the autograd gradients of every input and parameter, all float32.
Inputs are drawn in float32 (seeded from the case name, so every run writes the same bytes);
the reference is computed in float64 and rounded once, so a golden is within 0.5 ulp of the
exact result for its float32 inputs. Dims and options are strings in __metadata__.
Naming (see README.md): x/w/b inputs, y outputs, d<name> gradients, dout the upstream gradient.

Usage: tools/oracle/.venv/bin/python tools/oracle/make_op_goldens.py [out_dir]
"""
import math
import os
import sys
import zlib

import torch
import torch.nn.functional as F
from diffusers.models.embeddings import get_timestep_embedding

from golden_io import save_sorted

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "golden", "ops")
CASES = {}


def case(fn):
    """Registers a golden-case builder under its function name."""
    CASES[fn.__name__] = fn
    return fn


class Draw:
    """float32 draws from a generator seeded by the case name; returned as float64 leaves."""

    def __init__(self, name):
        self.g = torch.Generator().manual_seed(zlib.crc32(name.encode()))

    def randn(self, *shape, scale=1.0, shift=0.0, grad=True):
        x = (torch.randn(*shape, generator=self.g) * scale + shift).float()
        return x.double().requires_grad_(grad)

    def uniform(self, *shape, lo=0.0, hi=1.0):
        return (torch.rand(*shape, generator=self.g) * (hi - lo) + lo).float().double()


def backward(y, dout, *leaves):
    """Gradients of sum(dout * y) with respect to each leaf (None if unused)."""
    return torch.autograd.grad(y, leaves, dout, allow_unused=True)


def meta(**kw):
    """Metadata as strings (booleans as 0/1, which the C test parses as integers)."""
    return {k: str(int(v) if isinstance(v, bool) else v) for k, v in kw.items()}


# ---- linear ----

def _linear(name, M, IC, OC, bias):
    r = Draw(name)
    x, w = r.randn(M, IC), r.randn(OC, IC, scale=IC ** -0.5)
    b = r.randn(OC) if bias else None
    y = F.linear(x, w, b)
    dout = r.randn(M, OC, grad=False)
    grads = backward(y, dout, x, w, *([b] if bias else []))
    t = dict(x=x, w=w, dout=dout, y=y, dx=grads[0], dw=grads[1])
    if bias:
        t.update(b=b, db=grads[2])
    return t, meta(op="linear", M=M, IC=IC, OC=OC, bias=bias)


@case
def linear(name):
    return _linear(name, M=2 * 7, IC=24, OC=10, bias=True)


@case
def linear_nobias(name):
    return _linear(name, M=9, IC=16, OC=12, bias=False)


# ---- conv2d ----

def _conv(name, K, stride, pads):
    """pads = (top, bottom, left, right), applied with F.pad before an unpadded conv."""
    N, IC, H, W, OC = 2, 8, 9, 7, 6
    r = Draw(name)
    x = r.randn(N, IC, H, W)
    w = r.randn(OC, IC, K, K, scale=(IC * K * K) ** -0.5)
    b = r.randn(OC)
    top, bottom, left, right = pads
    y = F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=stride)
    dout = r.randn(*y.shape, grad=False)
    dx, dw, db = backward(y, dout, x, w, b)
    return (dict(x=x, w=w, b=b, dout=dout, y=y, dx=dx, dw=dw, db=db),
            meta(op="conv2d", N=N, IC=IC, H=H, W=W, OC=OC, KH=K, KW=K, stride=stride,
                 pad_top=top, pad_bottom=bottom, pad_left=left, pad_right=right,
                 OH=y.shape[2], OW=y.shape[3]))


@case
def conv2d_1x1(name):
    return _conv(name, 1, 1, (0, 0, 0, 0))


@case
def conv2d_3x3_s1_p1(name):
    return _conv(name, 3, 1, (1, 1, 1, 1))


@case
def conv2d_3x3_s2_p1(name):
    return _conv(name, 3, 2, (1, 1, 1, 1))


@case
def conv2d_vae_down(name):
    # diffusers Downsample2D(padding=0): F.pad(x, (0, 1, 0, 1)) then a stride-2 3x3 conv.
    return _conv(name, 3, 2, (0, 1, 0, 1))


# ---- normalisation ----

def _groupnorm(name, silu, affine, eps):
    N, C, H, W, G = 2, 8, 5, 6, 4
    r = Draw(name)
    # Small spread around a larger mean: the statistics need a careful variance, and eps
    # (1e-5 vs 1e-6) changes rstd by eps / (2 var) = 2e-3 or 2e-4, far above the tolerances.
    x = r.randn(N, C, H, W, scale=0.05, shift=0.5)
    gamma = r.randn(C, scale=0.3, shift=1.0) if affine else None
    beta = r.randn(C, scale=0.3) if affine else None
    y = F.group_norm(x, G, gamma, beta, eps)
    if silu:
        y = F.silu(y)
    xg = x.detach().reshape(N, G, -1)
    mean = xg.mean(-1)
    rstd = (xg.var(-1, unbiased=False) + eps).rsqrt()
    dout = r.randn(N, C, H, W, grad=False)
    t = dict(x=x, dout=dout, y=y, mean=mean, rstd=rstd)
    if affine:
        dx, dgamma, dbeta = backward(y, dout, x, gamma, beta)
        t.update(gamma=gamma, beta=beta, dgamma=dgamma, dbeta=dbeta)
    else:
        (dx,) = backward(y, dout, x)
    t["dx"] = dx
    return t, meta(op="groupnorm_silu" if silu else "groupnorm", N=N, C=C, HW=H * W, G=G,
                   eps=repr(eps), affine=affine)


@case
def groupnorm(name):
    return _groupnorm(name, silu=False, affine=True, eps=1e-5)


@case
def groupnorm_noaffine(name):
    return _groupnorm(name, silu=False, affine=False, eps=1e-5)


@case
def groupnorm_silu(name):
    return _groupnorm(name, silu=True, affine=True, eps=1e-6)  # the VAE's eps


@case
def layernorm(name):
    M, D, eps = 2 * 7, 24, 1e-5
    r = Draw(name)
    x = r.randn(M, D, scale=0.05, shift=-0.7)  # as GroupNorm: eps must matter
    gamma, beta = r.randn(D, scale=0.3, shift=1.0), r.randn(D, scale=0.3)
    y = F.layer_norm(x, (D,), gamma, beta, eps)
    mean = x.detach().mean(-1)
    rstd = (x.detach().var(-1, unbiased=False) + eps).rsqrt()
    dout = r.randn(M, D, grad=False)
    dx, dgamma, dbeta = backward(y, dout, x, gamma, beta)
    return (dict(x=x, gamma=gamma, beta=beta, dout=dout, y=y, mean=mean, rstd=rstd, dx=dx,
                 dgamma=dgamma, dbeta=dbeta), meta(op="layernorm", M=M, D=D, eps=repr(eps)))


# ---- activations ----

def _act(name, fn):
    r = Draw(name)
    body = r.randn(250, scale=3.0, grad=False)
    tails = torch.tensor([0.0, -0.0, 1e-3, -1e-3, 6.0, -6.0, 9.5, -9.5, 15.0, -15.0, 30.0, -30.0],
                         dtype=torch.float64)
    x = torch.cat([body, tails]).requires_grad_(True)  # (262,): saturated tails included
    y = fn(x)
    dout = r.randn(x.numel(), grad=False)
    (dx,) = backward(y, dout, x)
    return dict(x=x, dout=dout, y=y, dx=dx), meta(op=name, n=x.numel())


@case
def silu(name):
    return _act(name, F.silu)


@case
def gelu_erf(name):
    return _act(name, lambda x: F.gelu(x, approximate="none"))


@case
def gelu_tanh(name):
    return _act(name, lambda x: F.gelu(x, approximate="tanh"))


@case
def quick_gelu(name):
    return _act(name, lambda x: x * torch.sigmoid(1.702 * x))


@case
def geglu(name):
    M, D = 2 * 5, 12
    r = Draw(name)
    x = r.randn(M, 2 * D, scale=2.0)
    a, gate = x.chunk(2, dim=-1)          # diffusers GEGLU: hidden, gate = proj(x).chunk(2, -1)
    y = a * F.gelu(gate)
    dout = r.randn(M, D, grad=False)
    (dx,) = backward(y, dout, x)
    return dict(x=x, dout=dout, y=y, dx=dx), meta(op="geglu", M=M, D=D)


@case
def softmax(name):
    M, D = 7, 33
    r = Draw(name)
    x = r.randn(M, D, scale=3.0, shift=10.0)  # offset: the max must be subtracted
    y = torch.softmax(x, -1)
    dout = r.randn(M, D, grad=False)
    (dx,) = backward(y, dout, x)
    return dict(x=x, dout=dout, y=y, dx=dx), meta(op="softmax", M=M, D=D)


# ---- attention ----

def _attention(name, B, Tq, Tk, NH, HD, causal):
    r = Draw(name)
    q = r.randn(B, Tq, NH * HD, scale=1.5)
    k = r.randn(B, Tk, NH * HD, scale=1.5)
    v = r.randn(B, Tk, NH * HD)

    def heads(t):  # (B, T, NH*HD) -> (B, NH, T, HD)
        return t.view(t.shape[0], t.shape[1], NH, HD).transpose(1, 2)

    # is_causal in torch is top-left aligned (query i sees keys j <= i) for Tq != Tk too.
    o = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=bool(causal))
    y = o.transpose(1, 2).reshape(B, Tq, NH * HD)
    s = heads(q.detach()) @ heads(k.detach()).transpose(-1, -2) / math.sqrt(HD)
    if causal:
        s = s.masked_fill(~torch.ones(Tq, Tk, dtype=torch.bool).tril(), float("-inf"))
    lse = torch.logsumexp(s, -1)  # (B, NH, Tq)
    dout = r.randn(B, Tq, NH * HD, grad=False)
    dq, dk, dv = backward(y, dout, q, k, v)
    return (dict(q=q, k=k, v=v, dout=dout, y=y, lse=lse, dq=dq, dk=dk, dv=dv),
            meta(op="attention", B=B, Tq=Tq, Tk=Tk, NH=NH, HD=HD, causal=causal))


@case
def attention_self(name):
    return _attention(name, B=2, Tq=33, Tk=33, NH=2, HD=8, causal=False)


@case
def attention_cross(name):
    return _attention(name, B=2, Tq=33, Tk=20, NH=2, HD=8, causal=False)


@case
def attention_causal(name):
    return _attention(name, B=2, Tq=21, Tk=21, NH=2, HD=8, causal=True)


@case
def attention_causal_rect(name):
    return _attention(name, B=1, Tq=12, Tk=20, NH=3, HD=4, causal=True)


# ---- data movement ----

@case
def upsample_nearest2x(name):
    N, C, H, W = 2, 3, 4, 5
    r = Draw(name)
    x = r.randn(N, C, H, W)
    y = F.interpolate(x, scale_factor=2.0, mode="nearest")
    dout = r.randn(*y.shape, grad=False)
    (dx,) = backward(y, dout, x)
    return dict(x=x, dout=dout, y=y, dx=dx), meta(op="upsample_nearest2x", NC=N * C, H=H, W=W)


@case
def concat_channels(name):
    N, C1, C2, H, W = 2, 3, 5, 4, 3
    r = Draw(name)
    x1, x2 = r.randn(N, C1, H, W), r.randn(N, C2, H, W)
    y = torch.cat([x1, x2], 1)
    dout = r.randn(*y.shape, grad=False)
    dx1, dx2 = backward(y, dout, x1, x2)
    return (dict(x1=x1, x2=x2, dout=dout, y=y, dx1=dx1, dx2=dx2),
            meta(op="concat_channels", N=N, C1=C1, C2=C2, HW=H * W))


@case
def add_channel_bias(name):
    N, C, H, W = 2, 6, 5, 4
    r = Draw(name)
    x, b = r.randn(N, C, H, W), r.randn(N, C)
    y = x + b[:, :, None, None]
    dout = r.randn(N, C, H, W, grad=False)
    dx, db = backward(y, dout, x, b)
    return (dict(x=x, b=b, dout=dout, y=y, dx=dx, db=db),
            meta(op="add_channel_bias", N=N, C=C, HW=H * W))


@case
def transpose_nchw_nhwc(name):
    N, C, H, W = 2, 5, 3, 4
    r = Draw(name)
    x = r.randn(N, C, H, W, grad=False)
    y = x.reshape(N, C, H * W).transpose(1, 2)  # (N, HW, C)
    return dict(x=x, y=y), meta(op="transpose", N=N, C=C, HW=H * W)


# ---- timestep embedding ----

def _temb(name, dim, flip, shift):
    max_period = 10000.0
    t = torch.tensor([0.0, 1.0, 37.0, 261.25, 500.0, 999.0], dtype=torch.float64)
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / (half - shift))
    arg = t[:, None] * freqs[None, :]
    y = torch.cat([torch.cos(arg), torch.sin(arg)] if flip else [torch.sin(arg), torch.cos(arg)], -1)
    if dim % 2:
        y = F.pad(y, (0, 1))
    # Same function as diffusers? Its float32 arithmetic rounds t*freq (|t| < 1000) to float32,
    # so it may differ by a few 1e-5; anything larger means the formula above is wrong.
    ref = get_timestep_embedding(t.float(), dim, flip_sin_to_cos=bool(flip), downscale_freq_shift=shift,
                                 max_period=int(max_period))
    err = (ref.double() - y).abs().max().item()
    assert err < 2e-4, f"{name}: differs from diffusers by {err}"
    return (dict(t=t, y=y), meta(op="timestep_embedding", N=t.numel(), dim=dim, flip_sin_to_cos=flip,
                                 downscale_freq_shift=shift, max_period=max_period,
                                 max_diff_vs_diffusers_f32=f"{err:.3g}"))


@case
def temb_flip1_shift0_d320(name):  # the SD UNet's time_proj
    return _temb(name, 320, 1, 0)


@case
def temb_flip0_shift1_d33(name):
    return _temb(name, 33, 0, 1)


@case
def temb_flip1_shift1_d31(name):
    return _temb(name, 31, 1, 1)


@case
def temb_flip0_shift0_d64(name):
    return _temb(name, 64, 0, 0)


# ---- loss ----

def _mse(name, weighted):
    N, D, dloss = 4, 4 * 8 * 8, 0.75
    r = Draw(name)
    pred, target = r.randn(N, D), r.randn(N, D, grad=False)
    w = r.uniform(N, lo=0.2, hi=2.0) if weighted else torch.ones(N, dtype=torch.float64)
    # kohya train_network: mse_loss(reduction="none").mean([1, 2, 3]) * weights, then .mean()
    per_sample = ((pred - target) ** 2).mean(1)
    loss = (per_sample * w).mean()
    (dpred,) = torch.autograd.grad(loss, pred, torch.tensor(dloss, dtype=torch.float64))
    t = dict(pred=pred, target=target, per_sample=per_sample, loss=loss.reshape(1), dpred=dpred)
    if weighted:
        t["weights"] = w
    return t, meta(op="mse_loss", N=N, D=D, dloss=repr(dloss), weighted=weighted)


@case
def mse_loss_weighted(name):
    return _mse(name, True)


@case
def mse_loss_unweighted(name):
    return _mse(name, False)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else OUT_DIR
    os.makedirs(out_dir, exist_ok=True)
    total = 0
    for name, build in CASES.items():
        tensors, md = build(name)
        tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}
        md["case"] = name
        md["torch"] = torch.__version__
        path = os.path.join(out_dir, name + ".safetensors")
        save_sorted(tensors, path, md)
        total += os.path.getsize(path)
        print(f"{name:28s} {', '.join(f'{k}{list(v.shape)}' for k, v in tensors.items())}")
    print(f"wrote {len(CASES)} cases to {out_dir} ({total} bytes)")


if __name__ == "__main__":
    main()
