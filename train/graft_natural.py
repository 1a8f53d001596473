"""Give the shipped gallery what the shipped natural fitted on its frozen network: the scene palette,
the picture gain (if any), the decodings and the video default.

    python train/graft_natural.py     # after vidcolor train train/natural*_palette.toml (or natural10_gain.toml)

The gallery's natural slot shares every tensor with natural (its styles train only what they own),
so what is fitted on natural's frozen network applies to it as it is: afterwards the gallery
colourizes exactly as natural.safetensors (checked here and by tests/test_palette.py) and its styles,
which read neither the palette nor the gain, are unchanged. Retraining train/gallery.toml from the new
natural gives the same natural slot; this takes seconds instead of ~2 hours."""
from dataclasses import replace
from pathlib import Path

import torch

from vidcolor.models.checkpoint import load_generator, save_generator
from vidcolor.models.generator import Generator

WEIGHTS = Path(__file__).resolve().parents[1] / "vidcolor" / "weights"
FITTED = ("palette", "picture_gain")  # parts fitted on the frozen network
DECODING = ("palette_strength", "temperature", "prior_shift")
nat = load_generator(WEIGHTS / "natural.safetensors")
gal = load_generator(WEIGHTS / "gallery.safetensors")
ns, gs = nat.state_dict(), gal.state_dict()
same = [k for k in ns if k in gs and ns[k].shape == gs[k].shape and not k.startswith(FITTED) and k not in DECODING]
diff = [k for k in same if not torch.equal(ns[k], gs[k])]
print("shared tensors", len(same), "different", diff)
assert not diff
new = Generator(replace(gal.config, palette=nat.config.palette, image_gain=nat.config.image_gain, pretrained=False))
missing, unexpected = new.load_state_dict({k: v for k, v in gs.items() if not k.startswith(FITTED)}, strict=False)
assert all(k.startswith(FITTED) for k in missing) and not unexpected
with torch.no_grad():
    new.load_state_dict({k: v for k, v in ns.items() if k.startswith(FITTED) or k in DECODING}, strict=False)
meta = {k: v for k, v in gal.metadata.items() if k not in ("format", "config", "sha256", *FITTED)}
meta["video_vividness"] = nat.metadata["video_vividness"]
for part in FITTED:
    if part in nat.metadata:
        meta[part] = {"from": "natural.safetensors", **{k: v for k, v in nat.metadata[part].items() if k != "recipe"}}
save_generator(WEIGHTS / "gallery.safetensors", new.eval(), meta, dtype=torch.float16)
g2 = load_generator(WEIGHTS / "gallery.safetensors")
x = torch.rand(1, 1, 256, 448)
with torch.no_grad():
    assert torch.equal(g2(x, g2.style_index("natural")), nat(x, 0))
print("gallery: natural's fitted parts and decodings; natural slot identical")
