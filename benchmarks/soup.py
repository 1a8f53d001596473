"""Natural weights on the line through two of one lineage: A + alpha x (B - A).

    python benchmarks/soup.py --weights A.safetensors B.safetensors --alpha 0.5 --output mid.safetensors
    python benchmarks/soup.py --weights v7.safetensors v8.safetensors --alpha 1.5 --output ext.safetensors

alpha 0.5 is a two-ingredient uniform "model soup" (Wortsman et al. 2022); alpha > 1 extrapolates past
B along the step that trained A into B (model extrapolation, "ExPO", Zheng et al. 2024). Every
floating-point tensor is moved (trunk, heads, palette, batch-norm statistics); integer tensors and the
decoding settings (temperature, vividness prior shift, palette strength, the header's video default)
are B's, so the result decodes as B until it is calibrated. Both files must share one architecture.
Judge the result with ``calibration_frontier.py``; nothing here is shipped by itself.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vidcolor.models.checkpoint import load_generator, save_generator

DECODING = ("temperature", "prior_shift", "palette_strength", "bins")  # settings, not learned weights


def along_line(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """a + alpha (b - a) for every float tensor (in float32, cast back); B's value for the others."""
    if a.keys() != b.keys():
        raise ValueError("the weights do not share one architecture (different tensor names)")
    out = {}
    for k, vb in b.items():
        if vb.is_floating_point() and k not in DECODING:
            out[k] = (a[k].float() + alpha * (vb.float() - a[k].float())).to(vb.dtype)
        else:
            out[k] = vb.clone()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, nargs=2, required=True, metavar=("A", "B"))
    ap.add_argument("--alpha", type=float, required=True)
    ap.add_argument("--output", type=Path, required=True)
    args = ap.parse_args()
    ga, gb = (load_generator(w, "natural") for w in args.weights)
    if ga.config != gb.config:
        raise SystemExit("error: the two weights have different configs; both must share one architecture")
    gb.load_state_dict(along_line(ga.state_dict(), gb.state_dict(), args.alpha))
    meta = {k: v for k, v in gb.metadata.items() if k not in ("format", "config", "sha256")}
    meta["along_line"] = {"a": str(args.weights[0]), "b": str(args.weights[1]), "alpha": args.alpha}
    save_generator(args.output, gb.eval(), meta, dtype=torch.float16)
    print(f"wrote {args.output}: A + {args.alpha} (B - A)")


if __name__ == "__main__":
    main()
