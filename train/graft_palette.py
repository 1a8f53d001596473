"""Give the shipped gallery the shipped natural's scene palette and decodings:

    python train/graft_palette.py        # after vidcolor train train/natural_palette.toml

The gallery's natural slot shares every tensor with natural (its styles train only what they own),
so the palette fitted on natural's encoder applies to it as it is: afterwards the gallery
colourizes exactly as natural.safetensors (checked here and by tests/test_palette.py) and its styles,
which do not read the palette, are unchanged. Retraining train/gallery.toml from the palette-carrying
natural gives the same natural slot; this takes seconds instead of ~33 minutes."""
from dataclasses import replace
from pathlib import Path

import torch
from vidcolor.models.checkpoint import load_generator, save_generator
from vidcolor.models.generator import Generator
WEIGHTS = Path(__file__).resolve().parents[1] / "vidcolor" / "weights"
nat = load_generator(WEIGHTS / "natural.safetensors")
gal = load_generator(WEIGHTS / "gallery.safetensors")
ns, gs = nat.state_dict(), gal.state_dict()
same = [k for k in ns if k in gs and ns[k].shape == gs[k].shape and not k.startswith("palette") and k not in ("temperature", "prior_shift")]
diff = [k for k in same if not torch.equal(ns[k], gs[k])]
print("shared tensors", len(same), "different", diff)
assert not diff
new = Generator(replace(gal.config, palette=True, pretrained=False))
missing, unexpected = new.load_state_dict(gs, strict=False)
assert all(k.startswith("palette") for k in missing) and not unexpected
with torch.no_grad():
    new.palette.load_state_dict(nat.palette.state_dict())
    for k in ("palette_strength", "temperature", "prior_shift"):
        getattr(new, k).copy_(getattr(nat, k))
meta = {k: v for k, v in gal.metadata.items() if k not in ("format", "config", "sha256")}
meta["video_vividness"] = nat.metadata["video_vividness"]
meta["palette"] = {"from": "natural.safetensors (train/natural_palette.toml)", **{k: v for k, v in nat.metadata["palette"].items() if k != "recipe"}}
save_generator(WEIGHTS / "gallery.safetensors", new.eval(), meta, dtype=torch.float16)
g2 = load_generator(WEIGHTS / "gallery.safetensors")
x = torch.rand(1, 1, 256, 448)
with torch.no_grad():
    assert torch.equal(g2(x, g2.style_index("natural")), nat(x, 0))
print("gallery: palette and decodings of natural; natural slot identical")
