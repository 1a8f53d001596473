"""CPU cost of a blend and of --strength against one style: onnxruntime, model only.

    python benchmarks/bench_blends.py [--weights W] [--repeats 7] [--frames 20]

A blend is the same graph as one style (its mixed norm parameters are constants), so it should
cost the same; --strength below 1 adds the natural colourization's decoder (to stride 4 with the
bins head) beside the style's, on one shared encoder pass. Variants are exported as `vidcolor run`
exports them (vidcolor.backends.load_backend) and timed in alternation (ABCD...) at 256x448, one
frame per call and one intra-op thread, as a run does on a 2-core machine; median ms per frame.

``--weights``: a generator holding natural and at least two painting styles; default the shipped
gallery, or (before it ships) natural.safetensors with two fresh painting slots (speed does not
depend on the weights' values). Pause any training while this runs.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

H, W = 256, 448


def gallery_weights(folder: Path) -> Path:
    """The shipped gallery, or natural + two fresh painting slots saved in ``folder``."""
    from vidcolor.models.checkpoint import WEIGHTS_DIR, load_generator, save_generator
    from vidcolor.models.generator import add_style_slots

    shipped = WEIGHTS_DIR / "gallery.safetensors"
    if shipped.is_file():
        return shipped
    gen = add_style_slots(load_generator(WEIGHTS_DIR / "natural.safetensors"), ["ukiyoe", "starry"])
    return save_generator(folder / "proxy_gallery.safetensors", gen)


def main() -> None:
    from vidcolor.backends import load_backend

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or gallery_weights(Path(tmp))
        variants = {"ukiyoe": ("ukiyoe", 1.0), "blend 60/40": ("ukiyoe:0.6,starry:0.4", 1.0),
                    "ukiyoe --strength 0.5": ("ukiyoe", 0.5), "natural": ("natural", 1.0)}
        backends = {label: load_backend("onnxruntime", style, H, W, 1, "cpu", weights, Path(tmp) / "engines", strength=strength)
                    for label, (style, strength) in variants.items()}
        luma = np.random.default_rng(0).random((1, 1, H, W), dtype=np.float32)
        times: dict[str, list[float]] = {label: [] for label in backends}
        for label, backend in backends.items():
            backend.infer(luma)  # warm-up
        for _ in range(args.repeats):
            for label, backend in backends.items():
                start = time.perf_counter()
                for _ in range(args.frames):
                    backend.infer(luma)
                times[label].append((time.perf_counter() - start) / args.frames * 1000)
        base = statistics.median(times["ukiyoe"])
        print(f"onnxruntime CPU, {W}x{H}, 1 thread, {Path(weights).name}: median ms/frame over {args.repeats} x {args.frames} frames")
        for label, values in times.items():
            median = statistics.median(values)
            print(f"  {label:24s} {median:7.1f} ms  ({median / base:.2f}x ukiyoe)")


if __name__ == "__main__":
    main()
