"""Give the shipped gallery the shipped natural's picture gain and video default:

    python train/graft_gain.py        # after vidcolor train train/natural10_gain.toml

The gallery's natural slot shares every tensor with natural (its styles train only what they own,
train/gallery.toml), and the picture gain is fitted on that frozen network, so it applies to the
gallery's natural slot as it is: afterwards the gallery colourizes exactly as natural.safetensors
(checked here and by tests/test_palette.py), and its styles, which do not read the gain, are
unchanged. Retraining train/gallery.toml from the new natural gives the same natural slot; this
takes seconds instead of ~2 hours."""
from dataclasses import replace
from pathlib import Path

import torch

from vidcolor.models.checkpoint import load_generator, save_generator
from vidcolor.models.generator import Generator

WEIGHTS = Path(__file__).resolve().parents[1] / "vidcolor" / "weights"
nat = load_generator(WEIGHTS / "natural.safetensors")
gal = load_generator(WEIGHTS / "gallery.safetensors")
ns, gs = nat.state_dict(), gal.state_dict()
same = [k for k in ns if k in gs and ns[k].shape == gs[k].shape and not k.startswith("picture_gain")]
diff = [k for k in same if not torch.equal(ns[k], gs[k])]
print("shared tensors", len(same), "different", diff)
assert not diff
new = Generator(replace(gal.config, image_gain=True, pretrained=False))
missing, unexpected = new.load_state_dict(gs, strict=False)
assert all(k.startswith("picture_gain") for k in missing) and not unexpected
with torch.no_grad():
    new.picture_gain.load_state_dict(nat.picture_gain.state_dict())
meta = {k: v for k, v in gal.metadata.items() if k not in ("format", "config", "sha256")}
meta["video_vividness"] = nat.metadata["video_vividness"]
meta["picture_gain"] = {"from": "natural.safetensors (train/natural10_gain.toml)", **{k: v for k, v in nat.metadata["picture_gain"].items() if k != "recipe"}}
save_generator(WEIGHTS / "gallery.safetensors", new.eval(), meta, dtype=torch.float16)
g2 = load_generator(WEIGHTS / "gallery.safetensors")
x = torch.rand(1, 1, 256, 448)
with torch.no_grad():
    assert torch.equal(g2(x, g2.style_index("natural")), nat(x, 0))
print("gallery: picture gain and video default of natural; natural slot identical")
