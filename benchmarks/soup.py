"""Natural weights on the line through two of one lineage: A + alpha x (B - A); or the mean of several.

    python benchmarks/soup.py --weights A.safetensors B.safetensors --alpha 0.5 --output mid.safetensors
    python benchmarks/soup.py --weights v7.safetensors v8.safetensors --alpha 1.5 --output ext.safetensors
    python benchmarks/soup.py --weights C.safetensors D.safetensors E.safetensors --mean --output soup.safetensors

alpha 0.5 is a two-ingredient uniform "model soup" (Wortsman et al. 2022); alpha > 1 extrapolates past
B along the step that trained A into B (model extrapolation, "ExPO", Zheng et al. 2024). Every
floating-point tensor is moved (trunk, heads, palette, batch-norm statistics); integer tensors and the
decoding settings (temperature, vividness prior shift, palette strength, the header's video default)
are B's, so the result decodes as B until it is calibrated. ``--mean`` averages any number of weights
fine-tuned from one parent (a uniform soup), the decoding settings the last file's. All files must share one architecture.
Judge the result with ``calibration_frontier.py``; nothing here is shipped by itself.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vidcolor.models.checkpoint import load_generator, save_generator

DECODING = ("temperature", "prior_shift", "palette_strength", "bins")  # settings, not learned weights


def combine(states: list[dict[str, torch.Tensor]], coefficients: list[float]) -> dict[str, torch.Tensor]:
    """sum_i c_i x state_i for every float tensor (in float32, cast back); the last state's value for
    the others (integer tensors and DECODING)."""
    if any(st.keys() != states[-1].keys() for st in states):
        raise ValueError("the weights do not share one architecture (different tensor names)")
    out = {}
    for k, v in states[-1].items():
        if v.is_floating_point() and k not in DECODING:
            out[k] = sum(c * st[k].float() for c, st in zip(coefficients, states)).to(v.dtype)
        else:
            out[k] = v.clone()
    return out


def along_line(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """a + alpha (b - a) for every float tensor; B's value for the others."""
    return combine([a, b], [1 - alpha, alpha])


def mean_of(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean of every float tensor over the states; the last state's value for the others."""
    return combine(states, [1 / len(states)] * len(states))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, nargs="+", required=True, help="A B with --alpha; two or more with --mean")
    how = ap.add_mutually_exclusive_group(required=True)
    how.add_argument("--alpha", type=float)
    how.add_argument("--mean", action="store_true")
    ap.add_argument("--output", type=Path, required=True)
    args = ap.parse_args()
    if len(args.weights) < 2 or (args.alpha is not None and len(args.weights) != 2):
        raise SystemExit("error: --alpha takes exactly two weights (A B), --mean two or more")
    gens = [load_generator(w, "natural") for w in args.weights]
    if any(g.config != gens[-1].config for g in gens):
        raise SystemExit("error: the weights have different configs; all must share one architecture")
    last = gens[-1]
    states = [g.state_dict() for g in gens]
    meta = {k: v for k, v in last.metadata.items() if k not in ("format", "config", "sha256")}
    if args.mean:
        last.load_state_dict(mean_of(states))
        meta["mean_of"] = [str(w) for w in args.weights]
    else:
        last.load_state_dict(along_line(states[0], states[1], args.alpha))
        meta["along_line"] = {"a": str(args.weights[0]), "b": str(args.weights[1]), "alpha": args.alpha}
    save_generator(args.output, last.eval(), meta, dtype=torch.float16)
    print(f"wrote {args.output}: " + (f"the mean of {len(gens)}" if args.mean else f"A + {args.alpha} (B - A)"))


if __name__ == "__main__":
    main()
