"""The painting styles' top-edge band, with and without the edge padding (generator.EDGE_PAD), and its cost.

    python benchmarks/bench_style_edge.py [--photos ../shared/data/photos/kodak24] [--repeats 9]

Band: on the first 6 photos (short side 256, cropped to 256x384), each style's output (RGB 0..1)
through the bare generator (no padding) and through the style's module with the picture reflected
``pad`` px above and left (pad 8 is what ships); the mean |step| between the mean colour of rows 0-2
and of rows 8-16 (and the same for columns: the left edge). A clean picture has a small step of its
own (content), so the floor is not 0.

Cost: ukiyoe model only, onnxruntime CPU (2 threads), 256x448, batch 4, bare and shipped graphs in
alternation, median frames/s and their ratio.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from vidcolor.color import rgb_to_luma
from vidcolor.engine import export_onnx_bytes
from vidcolor.models.checkpoint import WEIGHTS_DIR, load_generator
from vidcolor.models.generator import reflect_top_left
from vidcolor.train.data import read_rgb

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class Bare(torch.nn.Module):
    """A painting style run on its input as it is (what the style modules did before session 16)."""

    def __init__(self, generator, style: str) -> None:
        super().__init__()
        self.generator, self.index = generator, generator.style_index(style)

    def forward(self, luma: torch.Tensor) -> torch.Tensor:
        return self.generator(luma, self.index, mode="stylize")


def edge_steps(out: np.ndarray) -> tuple[float, float]:
    """(3, H, W) RGB -> (top step, left step): mean over channels of |band mean - inside mean|."""
    top = np.abs(out[:, 0:3].mean((1, 2)) - out[:, 8:16].mean((1, 2))).mean()
    left = np.abs(out[:, :, 0:3].mean((1, 2)) - out[:, :, 8:16].mean((1, 2))).mean()
    return float(top), float(left)


@torch.no_grad()
def band_table(gen, photos: list[Path], styles=("ukiyoe", "storm"), pads=(0, 8, 16, 32)) -> None:
    print("| style | pad | top step | left step |\n|---|---:|---:|---:|")
    lumas = [rgb_to_luma(torch.from_numpy(read_rgb(f, 256)).permute(2, 0, 1)[None].float() / 255)[..., :256, :384] for f in photos]
    for style in styles:
        bare = Bare(gen, style)
        for pad in pads:
            steps = [edge_steps((bare(reflect_top_left(x, pad))[..., pad:, pad:] if pad else bare(x))[0].numpy()) for x in lumas]
            print(f"| {style} | {pad} | {np.mean([s[0] for s in steps]):.3f} | {np.mean([s[1] for s in steps]):.3f} |", flush=True)


def speed(gen, repeats: int) -> None:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    graphs = {"bare": Bare(gen, "ukiyoe"), "shipped (edge padding)": gen.for_style("ukiyoe")}
    sessions = {k: ort.InferenceSession(export_onnx_bytes(m, 256, 448, 4), opts, providers=["CPUExecutionProvider"]) for k, m in graphs.items()}
    x = np.random.default_rng(0).random((4, 1, 256, 448), dtype=np.float32)
    for s in sessions.values():
        s.run(None, {"luma": x})
    fps = {k: [] for k in sessions}
    for _ in range(repeats):
        for k, s in sessions.items():
            t0 = time.perf_counter()
            for _ in range(3):
                s.run(None, {"luma": x})
            fps[k].append(12 / (time.perf_counter() - t0))
    for k, v in fps.items():
        print(f"ukiyoe {k}: {statistics.median(v):.1f} frames/s {[round(a, 1) for a in v]}")
    print(f"ratio shipped / bare: {statistics.median(fps['shipped (edge padding)']) / statistics.median(fps['bare']):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=Path, default=DATA / "photos" / "kodak24")
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    torch.set_num_threads(2)
    gen = load_generator(WEIGHTS_DIR / "gallery.safetensors")
    band_table(gen, sorted(args.photos.iterdir())[:6])
    speed(gen, args.repeats)


if __name__ == "__main__":
    main()
