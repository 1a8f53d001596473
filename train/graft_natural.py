"""Put the shipped natural into the shipped gallery's natural slot: its whole network (encoder,
decoder, bins head, hint branch, the natural row of every conditional norm), its fitted parts (scene
palette, picture gain), its decodings and its video default. The styles keep what they own (their
rows of the conditional norms, the two full-resolution stages and the RGB head).

    python train/graft_natural.py     # after a new natural.safetensors (a natural*_hints.toml or *_palette.toml stage)

The styles train only what they own on natural's frozen network (train/gallery.toml), so after a
graft the gallery colourizes exactly as natural.safetensors (checked here and by
tests/test_palette.py). Where natural's trunk itself changed (a retrained natural), the styles then
read features they were not trained on: that is fine only when the change is small (v7 -> v8: 0.08 %
of the weights' norm) and must be checked with `benchmarks/eval_styles.py gram` and a style sheet;
retraining train/gallery.toml on the new natural (~2 h at 1.1 s a step, longer on slower hosts) is
the full answer. Prints how far the trunk moved."""
from dataclasses import replace
from pathlib import Path

import torch

from vidcolor.models.checkpoint import load_generator, save_generator
from vidcolor.models.generator import Generator

WEIGHTS = Path(__file__).resolve().parents[1] / "vidcolor" / "weights"
FITTED = ("palette", "picture_gain")  # parts fitted on the frozen network: absent from older files


def grafted_state(nat: dict[str, torch.Tensor], gal: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], float]:
    """The gallery's tensors with natural's in its natural slot, and the trunk's relative change.

    Tensors of one shape are natural's; a conditional norm's (n_styles, C) table gets natural's
    (1, C) row as its row 0 (the natural style); the gallery's own (the styles' stages) stay.
    """
    out, num, den = dict(gal), 0.0, 0.0
    for k, v in nat.items():
        if k not in gal:
            out[k] = v.clone()  # a fitted part the gallery lacks
            continue
        g = gal[k]
        if g.shape == v.shape:
            new = v.clone()
        elif g.dim() == 2 and v.shape == (1, g.shape[1]):
            new = g.clone()
            new[0] = v[0]
        else:
            raise ValueError(f"{k}: natural {tuple(v.shape)} does not fit the gallery's {tuple(g.shape)}")
        if v.is_floating_point() and not k.startswith(FITTED):
            num += float(((new.float() - g.float()) ** 2).sum())
            den += float((g.float() ** 2).sum())
        out[k] = new
    return out, (num / max(den, 1e-12)) ** 0.5


def main() -> None:
    nat = load_generator(WEIGHTS / "natural.safetensors")
    gal = load_generator(WEIGHTS / "gallery.safetensors")
    state, moved = grafted_state(nat.state_dict(), gal.state_dict())
    print(f"natural's network moved by {moved:.2e} of its norm against the gallery's natural slot")
    new = Generator(replace(gal.config, palette=nat.config.palette, image_gain=nat.config.image_gain, pretrained=False))
    new.load_state_dict(state, strict=True)
    meta = {k: v for k, v in gal.metadata.items() if k not in ("format", "config", "sha256", *FITTED)}
    meta["video_vividness"] = nat.metadata["video_vividness"]
    meta["natural_from"] = {"sha256": nat.metadata["sha256"], "recipe": nat.metadata.get("recipe", {}).get("path")}
    for part in FITTED:
        if part in nat.metadata:
            meta[part] = {"from": "natural.safetensors", **{k: v for k, v in nat.metadata[part].items() if k != "recipe"}}
    save_generator(WEIGHTS / "gallery.safetensors", new.eval(), meta, dtype=torch.float16)
    g2 = load_generator(WEIGHTS / "gallery.safetensors")
    x = torch.rand(1, 1, 256, 448)
    with torch.no_grad():
        assert torch.equal(g2(x, g2.style_index("natural")), nat(x, 0))
    print("gallery: natural's network, fitted parts and decodings in its natural slot (identical output)")


if __name__ == "__main__":
    main()
