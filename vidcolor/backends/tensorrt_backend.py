"""TensorRT backend: ONNX -> serialized engine per (style, size, batch, precision), cached under an
EngineKey, run with torch CUDA tensors as input/output buffers (TensorRT 10/11 Python API).

A cached engine is used only when its JSON sidecar matches the expected key fields, it
deserializes, and its I/O shapes are the ones asked for; otherwise it is rebuilt (with a warning).
"""
from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from vidcolor.backends.base import StaticShapeBackend
from vidcolor.engine import (
    HINTS_NAME,
    INPUT_NAME,
    EngineKey,
    GpuInfo,
    cached_onnx,
    current_gpu,
    sidecar_path,
)
from vidcolor.errors import BackendError
from vidcolor.files import file_sha256, write_atomically
from vidcolor.options import EngineSpec

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install TensorRT 10+ from NVIDIA's index: pip install tensorrt-cu12 "
    "--extra-index-url https://pypi.nvidia.com (needs an NVIDIA GPU and driver)"
)
WORKSPACE_BYTES = 4 << 30  # builder scratch memory; the generator needs far less


def import_tensorrt() -> ModuleType:
    """The `tensorrt` module (10 or newer), or BackendError saying what to install."""
    try:
        import tensorrt as trt
    except (ImportError, OSError) as exc:  # OSError: the wheel is there but its CUDA libraries are not
        raise BackendError(f"TensorRT is not available ({exc})", INSTALL_HINT) from None
    major = int(str(trt.__version__).split(".")[0])
    if major < 10:
        raise BackendError(f"TensorRT {trt.__version__} is too old; vidcolor needs 10 or newer", INSTALL_HINT)
    return trt


def _fp16_in_graph(trt: ModuleType, precision: str) -> bool:
    """TensorRT 11 removed BuilderFlag.FP16: there fp16 must be in the ONNX graph (strong typing)."""
    return precision == "fp16" and not hasattr(trt.BuilderFlag, "FP16")


def engine_key(onnx_path: Path, spec: EngineSpec, gpu: GpuInfo, tensorrt_version: str) -> EngineKey:
    return EngineKey(
        onnx_sha256=file_sha256(onnx_path), tensorrt_version=str(tensorrt_version), gpu_name=gpu.name,
        compute_capability=gpu.compute_capability, precision=spec.precision, style=spec.style,
        height=spec.height, width=spec.width, batch=spec.batch,
    )


def ensure_engine(module: torch.nn.Module, spec: EngineSpec, engine_dir: Path, gpu: GpuInfo) -> Path:
    """Path of a valid engine for `module` at `spec` on `gpu`: the cached one, or a fresh build."""
    trt = import_tensorrt()
    fp16_graph = _fp16_in_graph(trt, spec.precision)
    onnx_path = cached_onnx(module, spec.style, spec.height, spec.width, spec.batch, engine_dir, fp16_graph)
    key = engine_key(onnx_path, spec, gpu, trt.__version__)
    path = key.engine_path(engine_dir)
    if path.exists():
        problem = engine_problem(trt, path, key)
        if problem is None:
            return path
        log.warning("rebuilding TensorRT engine %s: %s", path.name, problem)
    return build_engine(trt, onnx_path, key, engine_dir, strongly_typed=fp16_graph)


def engine_problem(trt: ModuleType, path: Path, key: EngineKey) -> str | None:
    """Why the engine file at `path` must not be used for `key`, or None when it is fine."""
    try:
        sidecar = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its sidecar JSON is missing or unreadable"
    if sidecar != key.sidecar():
        changed = sorted(k for k in key.sidecar() if sidecar.get(k) != key.sidecar()[k])
        return f"its sidecar does not match ({', '.join(changed)})"
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    engine = _deserialize(runtime, path)
    if engine is None:
        return "it does not deserialize (corrupt, or built by another TensorRT)"
    inputs, out = _io_shapes(trt, engine)
    inp = inputs.get(INPUT_NAME, ())
    if inp != (key.batch, 1, key.height, key.width) or out[:1] + out[2:] != (key.batch, key.height, key.width):
        return f"its I/O shapes {inp} -> {out} are not the expected ones"
    return None


def _deserialize(runtime, path: Path):
    """The ICudaEngine in `path`, or None when it cannot be read. Keep `runtime` alive while it is used."""
    try:
        return runtime.deserialize_cuda_engine(path.read_bytes())
    except Exception:  # noqa: BLE001 - some TensorRT versions raise instead of returning None
        return None


def _io_shapes(trt: ModuleType, engine) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """({input name: shape}, output shape) of a one-output engine ("luma", and "hints" for a hint graph)."""
    inputs, output = {}, ()
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            inputs[name] = tuple(engine.get_tensor_shape(name))
        else:
            output = tuple(engine.get_tensor_shape(name))
    return inputs, output


def build_engine(trt: ModuleType, onnx_path: Path, key: EngineKey, engine_dir: Path, strongly_typed: bool) -> Path:
    """Parse the ONNX file, build a serialized engine for `key`, write it with its sidecar and the
    updated timing cache. `strongly_typed`: precisions come from the graph (TensorRT 11 fp16)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if key.precision == "fp16" and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
    timing_path = key.timing_cache_path(engine_dir)
    config.set_timing_cache(_timing_cache(config, timing_path), False)
    log.info("building TensorRT engine for %s %dx%d batch %d (%s); this takes a few minutes",
             key.style, key.width, key.height, key.batch, key.precision)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT could not build an engine from {onnx_path.name}", "see the TensorRT log above")
    path = key.engine_path(engine_dir)
    write_atomically(path, bytes(memoryview(serialized)))
    write_atomically(sidecar_path(path), json.dumps(key.sidecar(), indent=1).encode())
    write_atomically(timing_path, bytes(memoryview(config.get_timing_cache().serialize())))
    return path


def _timing_cache(config, path: Path):
    """The timing cache saved at `path`, or an empty one when there is none or it is unusable."""
    cache = None
    if path.exists():
        try:
            cache = config.create_timing_cache(path.read_bytes())
        except Exception:  # noqa: BLE001 - a damaged cache only costs build time: start afresh
            cache = None
        if cache is None:
            log.warning("ignoring unreadable TensorRT timing cache %s", path.name)
    return cache if cache is not None else config.create_timing_cache(b"")


_TORCH_DTYPES = {"FLOAT": torch.float32, "HALF": torch.float16}


class TensorRTBackend(StaticShapeBackend):
    """Runs a serialized engine; torch tensors on `device` are its I/O buffers."""

    name = "tensorrt"

    def __init__(self, engine_path: Path, batch: int, height: int, width: int, device: str = "cuda") -> None:
        super().__init__(batch, height, width)
        trt = import_tensorrt()
        self.device = torch.device(device)
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = _deserialize(self._runtime, Path(engine_path))
        if self._engine is None:
            raise BackendError(f"cannot load TensorRT engine {engine_path}", "delete it and run vidcolor build-engine")
        self._context = self._engine.create_execution_context()
        self._inputs, self._output = self._bind_buffers(trt)
        self.takes_hints = HINTS_NAME in self._inputs  # a hint graph (vidcolor.hints.HintGraph)
        shape = tuple(self._inputs[INPUT_NAME].shape) if INPUT_NAME in self._inputs else ()
        if shape != (batch, 1, height, width):
            raise BackendError(f"engine {Path(engine_path).name} has input {shape}, "
                               f"expected {(batch, 1, height, width)}", "run vidcolor build-engine again")
        self._stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None

    @classmethod
    def from_module(
        cls, module: torch.nn.Module, style: str, batch: int, height: int, width: int, engine_dir: Path,
        precision: str = "fp16", gpu: GpuInfo | None = None, device: str = "cuda",
    ) -> TensorRTBackend:
        """Build or reuse the cached engine for `module`, then load it."""
        spec = EngineSpec(style, height, width, batch, precision, "tensorrt")
        path = ensure_engine(module, spec, Path(engine_dir), gpu or current_gpu())
        return cls(path, batch, height, width, device)

    def _bind_buffers(self, trt: ModuleType) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """({input name: buffer}, output buffer), each bound to the execution context."""
        inputs, output = {}, None
        for i in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(i)
            dtype = _TORCH_DTYPES.get(self._engine.get_tensor_dtype(name).name)
            if dtype is None:
                raise BackendError(f"engine tensor {name} has an unsupported dtype", "rebuild the engine")
            shape = tuple(self._engine.get_tensor_shape(name))
            buf = torch.empty(shape, dtype=dtype, device=self.device)
            self._context.set_tensor_address(name, buf.data_ptr())
            if self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                inputs[name] = buf
            else:
                output = buf
        return inputs, output

    def _run(self, luma: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        stream = torch.cuda.stream(self._stream) if self._stream is not None else contextlib.nullcontext()
        with stream:
            self._inputs[INPUT_NAME].copy_(torch.from_numpy(luma))
            if hints is not None:
                self._inputs[HINTS_NAME].copy_(torch.from_numpy(hints))
            if not self._context.execute_async_v3(self._stream.cuda_stream if self._stream else 0):
                raise BackendError("TensorRT inference failed", "see the TensorRT log above")
            out = self._output.float().cpu()  # waits for the stream
        return out.numpy()

    def close(self) -> None:
        self._context = self._engine = self._runtime = None
