"""Write the tiny CLIP text encoder model and its golden outputs (transformers CLIPTextModel).

Writes
  tests/golden/models/tiny-clip/config.json         a transformers CLIPTextConfig (vocab 1000)
  tests/golden/models/tiny-clip/model.safetensors   its float32 weights, transformers key names,
                                                    plus the int64 buffer text_model.embeddings.
                                                    position_ids that older files carry
  tests/golden/models/tiny-clip-golden.safetensors  inputs, outputs and gradients (below)

The model is tiny (hidden 32, 3 layers, 4 heads, MLP 72, 77 positions) with vocab 1000 so the
committed files stay small; its ids are < 1000 (998 plays BOS, 999 plays EOS: as in real CLIP
the EOS id is the largest, so argmax pooling finds it). Weights are drawn seeded and scaled so
that nothing is trivially zero or one (LayerNorm gains 1 + 0.2·N, biases 0.1·N, attention
sharp enough to be far from uniform).

References are computed in float64 from the float32 weights and rounded once to float32, so a
golden is within 0.5 ulp of the exact result; the C test's tolerances are then sdlora's own
float32 error. Golden tensors (all F32 unless noted; B = 2, T = 77, D = 32):
  input_ids (B, T) I32      row 0: SD1 layout BOS tokens EOS EOS...; row 1: EOS mid-way, pad 0
  hidden.skip{1,2,3,4}      clip_skip N: final_layer_norm(hidden_states[-N]) (N=1: last_hidden_state;
                            N=4 = L+1: the embeddings alone), as kohya and A1111 compute it
  pooled                    pooler_output (argmax(input_ids) row of last_hidden_state)
  hidden_gelu.skip1         the same weights with hidden_act "gelu" (the SD2 / OpenCLIP activation)
  dout (B, T, D)            upstream gradient for hidden.skip1; d.<param> = d sum(dout*hidden)/d param
                            for every parameter
  lora.*                    adapters (kohya LoRAModule math: y = base(x) + scale·up(down(x))) on
                            layers.0.mlp.fc2 (rank 2, scale 0.5), layers.1.self_attn.q_proj (rank 4,
                            scale 0.25), layers.1.mlp.fc1 (rank 3, scale 1.0), base frozen, clip_skip 2:
                            lora.<module>.{down,up} weights, lora.hidden, lora.dout, and the adapter
                            grads lora.d.<module>.{down,up}
  chunks.input_ids (B, 3, T) I32   kohya max_token_length 225 windows of two captions
  chunks.a1111 (B, 3T, D)   every window encoded (clip_skip 2), concatenated (A1111)
  chunks.kohya (B, 227, D)  stitched as kohya's get_hidden_states: BOS state of window 0, states
                            1..75 of every window, the last state of the last window
  chunks.dout, chunks.d.<param>   gradients through the kohya stitching for a few parameters
Metadata: torch / transformers versions, L, D, clip_skip of the lora and chunk cases.

Usage: tools/oracle/.venv/bin/python tools/oracle/make_clip_text_goldens.py
"""
import copy
import json
import os

import torch
import transformers
from transformers import CLIPTextConfig, CLIPTextModel
from transformers.activations import ACT2FN

from golden_io import save_sorted

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL_DIR = os.path.join(ROOT, "tests", "golden", "models", "tiny-clip")
GOLDEN = os.path.join(ROOT, "tests", "golden", "models", "tiny-clip-golden.safetensors")

CONFIG = {
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,          # the legacy 0/2/1 ids SD configs carry: eos_token_id == 2
    "eos_token_id": 2,          # makes transformers pool at argmax(input_ids)
    "pad_token_id": 1,
    "dropout": 0.0,
    "hidden_act": "quick_gelu",
    "hidden_size": 32,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 72,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 4,
    "num_hidden_layers": 3,
    "projection_dim": 32,
    "torch_dtype": "float32",
    "vocab_size": 1000,
}
BOS, EOS, T = 998, 999, 77


def build_model(cfg, seed=20240611):
    """CLIPTextModel (eager attention) with seeded weights that make every term matter."""
    model = CLIPTextModel(CLIPTextConfig(**cfg, attn_implementation="eager")).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            n = torch.randn(p.shape, generator=g)
            if "layer_norm" in name and name.endswith(".weight"):
                v = 1.0 + 0.2 * n
            elif name.endswith(".bias"):
                v = 0.1 * n
            elif "token_embedding" in name:
                v = 0.5 * n
            elif "position_embedding" in name:
                v = 0.3 * n
            else:  # linear weights (out, in): unit-variance outputs; q, k sharper
                scale = 1.6 if ("q_proj" in name or "k_proj" in name) else 1.0
                v = scale * n / p.shape[1] ** 0.5
            p.copy_(v.float())
    return model


def clip_skip_states(model, ids, clip_skip):
    """kohya / A1111: final_layer_norm(hidden_states[-clip_skip]) (clip_skip 1 = last_hidden_state)."""
    # transformers builds its causal mask with the default dtype's min: run float64 models
    # with float64 as the default so the mask fits
    old = torch.get_default_dtype()
    torch.set_default_dtype(next(model.parameters()).dtype)
    try:
        out = model(input_ids=ids, output_hidden_states=True)
    finally:
        torch.set_default_dtype(old)
    if clip_skip <= 1:
        return out.last_hidden_state, out.pooler_output
    h = out.hidden_states[-clip_skip]
    return model.text_model.final_layer_norm(h), out.pooler_output


def kohya_stitch(states, n):
    """(B, n·77, D) → (B, 75n + 2, D): [state 0] + states k·77+1 .. k·77+75 of each window + [last]."""
    parts = [states[:, :1]]
    for k in range(n):
        parts.append(states[:, k * T + 1: k * T + T - 1])
    parts.append(states[:, -1:])
    return torch.cat(parts, dim=1)


def make_ids():
    g = torch.Generator().manual_seed(7)
    ids = torch.full((2, T), EOS, dtype=torch.int64)
    ids[0, 0] = BOS
    ids[0, 1:21] = torch.randint(0, 998, (20,), generator=g)  # EOS at 21, SD1 padding (EOS) after
    ids[1, 0] = BOS
    ids[1, 1:40] = torch.randint(0, 998, (39,), generator=g)
    ids[1, 40] = EOS
    ids[1, 41:] = 0                                           # SD2 padding (id 0) after the EOS
    return ids


def make_chunk_ids():
    """Two captions tokenized as kohya does for max_token_length 225 (SD1: pad = EOS)."""
    g = torch.Generator().manual_seed(8)
    n, maxlen = 3, 225 + 2
    out = []
    for n_tok in (190, 90):
        full = torch.full((maxlen,), EOS, dtype=torch.int64)
        full[0] = BOS
        full[1:1 + n_tok] = torch.randint(0, 998, (n_tok,), generator=g)
        full[1 + n_tok] = EOS
        windows = [torch.cat([full[:1], full[i:i + 75], full[-1:]]) for i in range(1, maxlen - T + 2, 75)]
        assert len(windows) == n
        out.append(torch.stack(windows))
    return torch.stack(out)  # (2, 3, 77)


class LoraLinear(torch.nn.Module):
    """kohya LoRAModule forward: base(x) + up(down(x)) · multiplier · alpha / rank."""

    def __init__(self, base, rank, scale, g):
        super().__init__()
        self.base, self.scale = base, scale
        self.down = torch.nn.Parameter((torch.randn(rank, base.in_features, generator=g) * 0.3).float())
        self.up = torch.nn.Parameter((torch.randn(base.out_features, rank, generator=g) * 0.3).float())

    def forward(self, x):
        return self.base(x) + self.scale * ((x @ self.down.T) @ self.up.T)


def get_module(model, path):
    m = model
    for part in path.split("."):
        m = getattr(m, part)
    return m


def set_module(model, path, new):
    parent, leaf = path.rsplit(".", 1)
    setattr(get_module(model, parent), leaf, new)


def main():
    torch.manual_seed(0)
    os.makedirs(MODEL_DIR, exist_ok=True)
    model = build_model(CONFIG)

    # ---- the model files (transformers must read them back) ----
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    sd["text_model.embeddings.position_ids"] = torch.arange(T, dtype=torch.int64)[None]  # as old files carry
    save_sorted(sd, os.path.join(MODEL_DIR, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(MODEL_DIR, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")
    reloaded = CLIPTextModel.from_pretrained(MODEL_DIR, attn_implementation="eager").eval()

    m64 = copy.deepcopy(model).double()
    ids = make_ids()
    golden = {"input_ids": ids.to(torch.int32)}
    with torch.no_grad():
        a = reloaded(input_ids=ids).last_hidden_state
        b = model(input_ids=ids).last_hidden_state
        assert torch.equal(a, b), "the written model does not reload identically"
        for skip in (1, 2, 3, 4):
            h, pooled = clip_skip_states(m64, ids, skip)
            golden[f"hidden.skip{skip}"] = h.float()
        golden["pooled"] = pooled.float()
        # skip 4 on a 3-layer model is the embeddings under final LN: check our reading of HF
        emb = m64.text_model.embeddings(input_ids=ids)
        assert torch.allclose(m64.text_model.final_layer_norm(emb).float(), golden["hidden.skip4"])
        mg = copy.deepcopy(m64)  # same weights, SD2's activation
        for layer in mg.text_model.encoder.layers:
            layer.mlp.activation_fn = ACT2FN["gelu"]
        golden["hidden_gelu.skip1"] = clip_skip_states(mg, ids, 1)[0].float()

    # ---- gradients of every parameter for sum(dout * last_hidden_state) ----
    g = torch.Generator().manual_seed(9)
    dout = torch.randn(2, T, CONFIG["hidden_size"], generator=g).float()
    golden["dout"] = dout
    h, _ = clip_skip_states(m64, ids, 1)
    (h * dout.double()).sum().backward()
    for name, p in m64.named_parameters():
        golden["d." + name] = p.grad.float()

    # ---- LoRA adapters, base frozen, clip_skip 2 ----
    ml = copy.deepcopy(model)
    for p in ml.parameters():
        p.requires_grad_(False)
    lora_specs = [("text_model.encoder.layers.0.mlp.fc2", 2, 0.5),
                  ("text_model.encoder.layers.1.self_attn.q_proj", 4, 0.25),
                  ("text_model.encoder.layers.1.mlp.fc1", 3, 1.0)]
    for path, rank, scale in lora_specs:
        set_module(ml, path, LoraLinear(get_module(ml, path), rank, scale, g))
    ml = ml.double()
    hl, _ = clip_skip_states(ml, ids, 2)
    ldout = torch.randn(hl.shape, generator=g).float()
    (hl * ldout.double()).sum().backward()
    golden["lora.hidden"] = hl.detach().float()
    golden["lora.dout"] = ldout
    for path, rank, scale in lora_specs:
        mod = get_module(ml, path)
        golden[f"lora.{path}.down"] = mod.down.detach().float()
        golden[f"lora.{path}.up"] = mod.up.detach().float()
        golden[f"lora.d.{path}.down"] = mod.down.grad.float()
        golden[f"lora.d.{path}.up"] = mod.up.grad.float()

    # ---- long prompts: three windows per caption ----
    cids = make_chunk_ids()
    golden["chunks.input_ids"] = cids.to(torch.int32)
    m64.zero_grad()
    states, _ = clip_skip_states(m64, cids.reshape(-1, T), 2)
    states = states.reshape(2, 3 * T, -1)
    joined = kohya_stitch(states, 3)
    golden["chunks.a1111"] = states.detach().float()
    golden["chunks.kohya"] = joined.detach().float()
    cdout = torch.randn(joined.shape, generator=g).float()
    golden["chunks.dout"] = cdout
    (joined * cdout.double()).sum().backward()
    for name in ("text_model.encoder.layers.0.self_attn.q_proj.weight",
                 "text_model.encoder.layers.1.mlp.fc2.weight",
                 "text_model.final_layer_norm.weight",
                 "text_model.embeddings.position_embedding.weight"):
        golden["chunks.d." + name] = get_module(m64, name).grad.float()

    meta = {"torch": torch.__version__, "transformers": transformers.__version__,
            "L": CONFIG["num_hidden_layers"], "D": CONFIG["hidden_size"], "lora_clip_skip": 2,
            "chunks_clip_skip": 2, "n_chunks": 3}
    save_sorted(golden, GOLDEN, meta)
    print(f"wrote {MODEL_DIR}/{{config.json,model.safetensors}} and {GOLDEN} ({len(golden)} tensors)")


if __name__ == "__main__":
    main()
