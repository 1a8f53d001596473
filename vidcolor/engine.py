"""Compiled-model cache: where engines live, ONNX export per (style, size, batch), cache keys.

Layout of an engine dir (all file names carry a key, so stale files are simply never matched):

    natural_256x448_b4_<onnx key>.onnx               ONNX export (weights, code, shape, opset)
    natural_256x448_b4_fp16_<engine key>.engine      TensorRT engine
    natural_256x448_b4_fp16_<engine key>.json        sidecar: the fields the engine key covers
    timing_<trt version>_<gpu>_sm<cc>.cache          TensorRT timing cache, shared per GPU + version

A blend or a --strength is a variant of its own (``engine_variant``: ``ukiyoe:0.6,starry:0.4``,
``ukiyoe@0.5``): its weights and strength are constants of the exported graph, the variant text is
in the keys, and the file names carry a file-safe form of it (``ukiyoe_0.6_starry_0.4_...``).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sysconfig
import tomllib
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from vidcolor.errors import BackendError
from vidcolor.files import write_atomically
from vidcolor.options import EngineSpec

ENV_ENGINE_DIR = "VIDCOLOR_ENGINE_DIR"
ONNX_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "luma", "output"
HINTS_NAME = "hints"  # the second input of a hint graph (vidcolor.hints.HintGraph): (batch, 3, h, w)


# --- where engines live -------------------------------------------------------------------------


def resolve_engine_dir(
    flag: Path | None = None, cwd: Path | None = None, environ: dict[str, str] | None = None
) -> Path:
    """The engine cache folder: --engine-dir > $VIDCOLOR_ENGINE_DIR > ./engines inside a vidcolor
    checkout (cwd holds vidcolor's pyproject.toml) > $XDG_CACHE_HOME/vidcolor/engines
    (default ~/.cache/vidcolor/engines). Never inside site-packages. The folder is not created."""
    env = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    if flag is not None:
        chosen = Path(flag).expanduser()
    elif env.get(ENV_ENGINE_DIR):
        chosen = Path(env[ENV_ENGINE_DIR]).expanduser()
    elif _is_vidcolor_checkout(cwd):
        chosen = cwd / "engines"
    else:
        cache_home = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".cache")
        chosen = Path(cache_home) / "vidcolor" / "engines"
    chosen = chosen.resolve()
    if _inside_site_packages(chosen):
        raise BackendError(
            f"engine dir {chosen} is inside the Python installation",
            f"pass --engine-dir or set {ENV_ENGINE_DIR} to a folder outside site-packages",
        )
    return chosen


def _is_vidcolor_checkout(folder: Path) -> bool:
    try:
        meta = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return meta.get("project", {}).get("name") == "vidcolor"


def _inside_site_packages(path: Path) -> bool:
    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    return any(path.is_relative_to(Path(r).resolve()) for r in roots) or bool({"site-packages", "dist-packages"} & set(path.parts))


def _ensure_dir(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendError(f"cannot create engine dir {folder}: {exc.strerror}", "pass another --engine-dir")
    return folder


# --- ONNX export --------------------------------------------------------------------------------


def module_digest(module: torch.nn.Module) -> str:
    """sha256 over the names, dtypes, shapes and values of a module's parameters and buffers."""
    from vidcolor.models.checkpoint import tensor_digest

    return tensor_digest(module.state_dict())


def code_digest(module: torch.nn.Module) -> str:
    """sha256 of the vidcolor source files that define `module`'s layers, so an export made before
    a change to the network code (same weights, other forward) is not reused."""
    import inspect

    package = Path(__file__).resolve().parent
    files = set()
    for layer in module.modules():
        source = inspect.getsourcefile(type(layer))
        if source and Path(source).resolve().is_relative_to(package):
            files.add(Path(source).resolve())
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.name.encode() + b"|" + path.read_bytes())
    return h.hexdigest()


def engine_variant(style: str, strength: float = 1.0, hints: int | None = None) -> str:
    """The name a compiled model is cached under: the style or normalised blend text
    (vidcolor.blend.blend_name), with ``@<strength>`` below strength 1 (repr: exact) and
    ``+hints<capacity>`` for a hint graph (vidcolor.hints.HintGraph)."""
    name = style if strength >= 1.0 else f"{style}@{strength!r}"
    return name if hints is None else f"{name}+hints{hints}"


def file_tag(variant: str) -> str:
    """A file-name-safe form of a variant: ``ukiyoe:0.6,starry:0.4@0.5`` -> ``ukiyoe_0.6_starry_0.4_s0.5``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", variant.replace("@", "_s"))


def shape_tag(style: str, height: int, width: int, batch: int) -> str:
    return f"{file_tag(style)}_{height}x{width}_b{batch}"


def hint_capacity(module: torch.nn.Module) -> int | None:
    """A hint graph's fixed hint capacity (vidcolor.hints.HintGraph; its export has a ``hints``
    input), or None for a module that takes luma alone."""
    return getattr(module, "hint_capacity", None)


def baked_conditioning(module: torch.nn.Module) -> object:
    """What a style module bakes into its graph besides its state dict: StyleGenerator's ``style``
    (a slot index, or blend weights as a list). StrengthGenerator keeps its own in buffers."""
    style = getattr(module, "style", None)
    return style.tolist() if isinstance(style, torch.Tensor) else style


def cached_onnx(
    module: torch.nn.Module, style: str, height: int, width: int, batch: int, engine_dir: Path,
    fp16_compute: bool = False,
) -> Path:
    """Export `module` to ONNX once per (weights, style, shape, batch, compute dtype); return the path.

    The file name holds a key over the weights digest, the network code, shape, opset and torch
    version, so a file from other weights or code is never reused. `fp16_compute` bakes fp16 arithmetic into the graph
    (fp32 inputs/outputs, casts inside), for strongly typed TensorRT builds."""
    fields = {
        "weights": module_digest(module), "code": code_digest(module), "style": style, "conditioning": baked_conditioning(module),
        "height": height, "width": width, "hint_capacity": hint_capacity(module),
        "batch": batch, "opset": ONNX_OPSET, "fp16_compute": fp16_compute,
        "torch": torch.__version__.split("+")[0],
    }
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    suffix = "_fp16c" if fp16_compute else ""
    path = _ensure_dir(Path(engine_dir)) / f"{shape_tag(style, height, width, batch)}{suffix}_{key}.onnx"
    if not path.exists():
        data = export_onnx_bytes(module, height, width, batch, fp16_compute)
        write_atomically(path, data)
    return path


def export_onnx_bytes(
    module: torch.nn.Module, height: int, width: int, batch: int, fp16_compute: bool = False
) -> bytes:
    """Trace `module` at the static shape (batch,1,height,width) -> serialized ONNX (opset 17).

    Input "luma" (batch,1,h,w) float32 (and "hints" (batch,3,h,w) float32 for a hint graph with a
    capacity, vidcolor.hints.HintGraph), output "output" (batch,C,h,w) float32. Uses the TorchScript
    exporter, which needs no extra packages (the torch.export one needs onnxscript). The graph
    declares the output's static shape: that exporter leaves it symbolic after a Slice (the painting
    styles crop their edge padding, generator.EDGE_PAD)."""
    import copy

    net = copy.deepcopy(module).float().eval().cpu()
    if fp16_compute:
        net = Fp16Compute(net.half())
    example, names = (torch.rand(batch, 1, height, width),), [INPUT_NAME]
    if hint_capacity(module) is not None:
        hints = torch.zeros(batch, 3, height, width)
        hints[:, :, height // 2, width // 2] = torch.tensor([0.1, -0.1, 1.0])  # one hint: the traced path is the same for any number
        example, names = (*example, hints), [INPUT_NAME, HINTS_NAME]
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter and tracer notices, not problems
        torch.onnx.export(
            net, example, buffer, dynamo=False, opset_version=ONNX_OPSET,
            input_names=names, output_names=[OUTPUT_NAME], do_constant_folding=True,
        )
        shape = net(*example).shape
    return with_output_shape(buffer.getvalue(), tuple(shape))


def with_output_shape(model: bytes, shape: tuple[int, ...]) -> bytes:
    """A serialized ONNX model with its (single) graph output declared as the static ``shape``."""
    import onnx

    proto = onnx.load_from_string(model)
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    if len(dims) != len(shape):
        raise ValueError(f"the exported output has {len(dims)} dimensions, the module gave {len(shape)}")
    for dim, size in zip(dims, shape):
        dim.Clear()
        dim.dim_value = int(size)
    return proto.SerializeToString()


class Fp16Compute(torch.nn.Module):
    """Runs a half-precision module behind float32 inputs and outputs."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.inner(*(x.half() for x in inputs)).float()


# --- TensorRT engine keys -----------------------------------------------------------------------


@dataclass(frozen=True)
class GpuInfo:
    name: str  # e.g. "NVIDIA H100 80GB HBM3"
    compute_capability: str  # e.g. "9.0"


def current_gpu() -> GpuInfo:
    """The CUDA device torch uses now; BackendError when there is none."""
    if not torch.cuda.is_available():
        raise BackendError("no CUDA GPU found", "TensorRT needs an NVIDIA GPU with a CUDA build of torch")
    major, minor = torch.cuda.get_device_capability()
    return GpuInfo(torch.cuda.get_device_name(), f"{major}.{minor}")


@dataclass(frozen=True)
class EngineKey:
    """Everything that makes a TensorRT engine valid; any change gives another file name."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str  # fp16 | fp32
    style: str
    height: int
    width: int
    batch: int

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:20]

    def engine_path(self, engine_dir: Path) -> Path:
        tag = shape_tag(self.style, self.height, self.width, self.batch)
        return Path(engine_dir) / f"{tag}_{self.precision}_{self.digest()}.engine"

    def timing_cache_path(self, engine_dir: Path) -> Path:
        gpu = re.sub(r"[^A-Za-z0-9]+", "-", self.gpu_name).strip("-").lower()
        return Path(engine_dir) / f"timing_{self.tensorrt_version}_{gpu}_sm{self.compute_capability}.cache"

    def sidecar(self) -> dict:
        return {**asdict(self), "key": self.digest()}


def sidecar_path(engine_path: Path) -> Path:
    return engine_path.with_suffix(".json")


# --- vidcolor build-engine ----------------------------------------------------------------------


def build_engines(specs: list[EngineSpec], engine_dir: Path | None = None, styles_dir: Path | None = None) -> list[Path]:
    """Build (or find in the cache) one engine per spec; return their paths in spec order.

    A spec's style is a style, a user style (in ``styles_dir``) or a blend. backend "tensorrt":
    ONNX export + TensorRT engine for this GPU (BackendError without TensorRT or a GPU). backend
    "onnxruntime": the ONNX file the onnxruntime backend runs."""
    from vidcolor.backends.tensorrt_backend import import_tensorrt
    from vidcolor.blend import blend_name, parse_blend, resolve_style
    from vidcolor.models.checkpoint import load_styles
    from vidcolor.models.strength import style_module

    folder = resolve_engine_dir(engine_dir)
    blends = [parse_blend(spec.style, styles_dir) for spec in specs]
    for spec in specs:
        resolve_style(spec.style, spec.weights, styles_dir)  # a blend's styles in one file
    if any(s.backend == "tensorrt" for s in specs):
        import_tensorrt()  # fail before any export when TensorRT is missing
        gpu = current_gpu()
    paths = []
    for spec, blend in zip(specs, blends, strict=True):
        module = style_module(load_styles(list(blend), spec.weights, styles_dir), blend)
        spec = replace(spec, style=blend_name(blend))  # "ukiyoe:1" -> "ukiyoe": the name load_backend caches under
        if spec.backend == "onnxruntime":
            from vidcolor.backends.onnxruntime_backend import model_batch

            batch = model_batch("auto", spec.batch)  # the file the onnxruntime backend will open
            paths.append(cached_onnx(module, spec.style, spec.height, spec.width, batch, folder))
        else:
            from vidcolor.backends.tensorrt_backend import ensure_engine

            paths.append(ensure_engine(module, spec, folder, gpu))
    return paths
