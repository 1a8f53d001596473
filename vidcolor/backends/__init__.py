"""Backends: one small interface (`Backend.infer`), chosen by name.

    with load_backend("auto", "natural", 256, 448, batch=4) as backend:
        ab = backend.infer(luma)        # (N,1,256,448) float32 [0,1] -> (N,2,256,448) Lab a/b

`auto` picks tensorrt (when installed, with a GPU) > torch on CUDA > the faster CPU backend,
with or without colour hints (vidcolor.hints: a hint graph's exports take a second input).
A blend (``ukiyoe:0.6,starry:0.4``) or a --strength below 1 is one more module to run: its blend
weights and strength are constants of the exported graph, and its engine-cache name carries them
(``engine_variant``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from vidcolor.backends.base import Backend, StaticShapeBackend, check_shape
from vidcolor.errors import BackendError

__all__ = ["BACKENDS", "Backend", "StaticShapeBackend", "available_backends", "load_backend", "resolve_backend"]

BACKENDS = ("torch", "onnxruntime", "tensorrt")
DEVICES = ("auto", "cpu", "cuda")
# The faster CPU backend for this generator: ONNX Runtime needs 2-2.5x less CPU time per frame
# than torch at 256x448 on a 2-core x86 machine (docs/BENCHMARKS.md); torch when it is missing.
CPU_DEFAULT = "onnxruntime"


def available_backends() -> dict[str, str | None]:
    """Backend name -> None when it can run here, else why not (with what to install)."""
    from vidcolor.backends.onnxruntime_backend import import_onnxruntime
    from vidcolor.backends.tensorrt_backend import import_tensorrt

    return {
        "torch": None,
        "onnxruntime": _why_not(import_onnxruntime),
        "tensorrt": _why_not(import_tensorrt) or (None if torch.cuda.is_available() else
                                                 "no CUDA GPU: TensorRT needs an NVIDIA GPU and a CUDA build of torch"),
    }


def _why_not(importer) -> str | None:
    try:
        importer()
    except BackendError as exc:
        return str(exc)
    return None


def resolve_backend(name: str, device: str, available: dict[str, str | None], cuda: bool) -> tuple[str, str]:
    """(backend name, device) to use for --backend `name` --device `device`. Pure: `available` is
    available_backends(), `cuda` whether torch sees a GPU. BackendError for impossible choices."""
    if name != "auto" and name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}", f"choose one of: auto, {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise BackendError(f"unknown device {device!r}", f"choose one of: {', '.join(DEVICES)}")
    if device == "cuda" and not cuda:
        raise BackendError("--device cuda asked for, but torch sees no CUDA GPU", "use --device cpu or auto")
    if name == "auto":
        if cuda and device != "cpu":
            return ("tensorrt" if available["tensorrt"] is None else "torch"), "cuda"
        return (CPU_DEFAULT if available[CPU_DEFAULT] is None else "torch"), "cpu"
    if available[name] is not None:
        raise BackendError(f"backend {name} cannot run here: {available[name]}")
    if name == "tensorrt":
        if device == "cpu":
            raise BackendError("the tensorrt backend runs on the GPU only", "use --device cuda or another backend")
        return name, "cuda"
    if name == "torch":
        return name, ("cuda" if cuda and device != "cpu" else "cpu")
    return name, device  # onnxruntime: "auto" lets it use its CUDA provider where installed


def load_backend(
    name: str, style: str, height: int, width: int, batch: int, device: str = "auto",
    weights: Path | None = None, engine_dir: Path | None = None, *,
    compile: bool = False, cuda_graph: bool = True, vividness: float | None = None,
    strength: float = 1.0, styles_dir: Path | None = None, hints: torch.Tensor | None = None, video: bool = False,
    references: tuple = (), keyframes: tuple = (),
) -> Backend:
    """Load the generator (shipped weights, or `weights`) for `style` into backend `name`.

    `style`: a style, a user style (found in `styles_dir`, default vidcolor.userstyles.styles_dir())
    or a blend of styles of one generator. Static shape (batch,1,height,width); height and width
    multiples of 32. `compile` and `cuda_graph` apply to torch on CUDA. ONNX files and engines are
    cached in `engine_dir` (default: vidcolor.engine.resolve_engine_dir). `vividness` in [0, 1]
    replaces the weights' own prior shift (colorize styles with a bins head; None = the calibrated
    default; with `video`, the weights' video default where their header has one, calibrated on
    video clips, else the photo one). `strength` in [0, 1]: a stylizing style at that strength against the natural
    colourization of the same weights (RGB out; see vidcolor.models.strength). `hints` (3, height,
    width): colour-hint planes (vidcolor.hints.hint_planes) given with every frame; natural
    weights with a hint branch. `references` (vidcolor.reference.Reference at height x width): colour
    pictures, one of which gives its colours as each frame's hints where the frame matches it (with
    `hints` over them; the same rules). `keyframes` ((h, w) luma, (3, h, w) hints): frames with
    --hint points of their own, coloured with them once and then used as references. With any, the backend runs a hint graph (vidcolor.hints.HintGraph,
    exported with a fixed hint capacity and its own cache name) behind a HintedBackend that gives
    each frame its hints."""
    from vidcolor.blend import blend_name, check_strength, parse_blend, resolve_style

    blend = parse_blend(style, styles_dir)
    check_strength(strength, resolve_style(style, weights, styles_dir))
    check_shape(batch, height, width)
    if (references or keyframes) and hints is None:
        hints = torch.zeros(3, height, width)
    backend, device = resolve_backend(name, device, available_backends(), torch.cuda.is_available())
    from vidcolor.models.checkpoint import load_styles
    from vidcolor.models.strength import style_module

    generator = load_styles(list(blend), weights, styles_dir)
    if vividness is None and video:
        vividness = getattr(generator, "metadata", {}).get("video_vividness")
    if vividness is not None:
        generator.set_vividness(vividness)  # a buffer: the ONNX/engine cache key follows it
    module = style_module(generator, blend, strength)
    source = None
    if hints is not None:
        from vidcolor.hints import HintGraph, HintSource

        source = HintSource(hints, references, keyframes=keyframes)
        capacity = None if backend == "torch" else source.capacity  # torch gathers what each frame has
        module = HintGraph(generator, generator.style_index(blend_name(blend)), capacity)  # natural alone: strength < 1 was refused
    inner = _open(backend, device, module, blend_name(blend), strength, batch, height, width, engine_dir,
                  compile=compile, cuda_graph=cuda_graph and source is None)
    if source is None:
        return inner
    from vidcolor.hints import HintedBackend

    return HintedBackend(inner, source)


def _open(backend: str, device: str, module: torch.nn.Module, style: str, strength: float, batch: int, height: int,
          width: int, engine_dir: Path | None, compile: bool, cuda_graph: bool) -> Backend:
    """`module` (a style module, or a hint graph) in backend `backend` on `device` (resolve_backend's)."""
    if backend == "torch":
        from vidcolor.backends.torch_backend import TorchBackend

        cuda = device == "cuda"
        # --strength's colour maths (vidcolor.color) copies its constant matrices to the device on every call:
        # a CUDA graph cannot capture that, so it runs eagerly; a hint graph on torch gathers each
        # batch's hinted pixels (a host sync): the caller turns graphs off for it
        graph = cuda_graph and cuda and strength >= 1.0
        return TorchBackend(module, batch, height, width, device, compile=compile and cuda, cuda_graph=graph)
    from vidcolor.engine import engine_variant, hint_capacity, resolve_engine_dir

    folder = resolve_engine_dir(engine_dir)
    variant = engine_variant(style, strength, hint_capacity(module))
    if backend == "onnxruntime":
        from vidcolor.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend.from_module(module, variant, batch, height, width, folder, device)
    from vidcolor.backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend.from_module(module, variant, batch, height, width, folder)
