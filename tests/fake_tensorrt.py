"""A stand-in for the `tensorrt` package (the subset of the TensorRT 10 Python API vidcolor uses).

It lets CPU-only CI exercise the TensorRT backend's build / cache / rebuild logic and its buffer
handling. A "serialized engine" is a header plus the ONNX model; the execution context reads its
input from the address given to `set_tensor_address` (so CPU torch tensors work as buffers), runs
the ONNX model with onnxruntime, rounds through float16 when built with BuilderFlag.FP16, and
writes the result to the output address. Like the real runtime, `deserialize_cuda_engine` returns
None (and logs an error) for data it cannot read, including engines from another version.

Use: monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt); inspect BUILDS for builds.
"""
from __future__ import annotations

import ctypes
import enum
import hashlib
import json

import numpy as np

__version__ = "10.9.0.34"
_ENGINE_MAGIC = b"FAKETRT1"
_CACHE_MAGIC = b"FAKETC1\n"
BUILDS: list[dict] = []  # one entry per build_serialized_network call


class Logger:
    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = Severity

    def __init__(self, min_severity: Logger.Severity = Severity.WARNING) -> None:
        self.min_severity = min_severity
        self.messages: list[tuple[int, str]] = []

    def log(self, severity: Logger.Severity, msg: str) -> None:
        self.messages.append((int(severity), msg))


ILogger = Logger


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 1


class BuilderFlag(enum.IntEnum):
    FP16 = 0
    TF32 = 7


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class DataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1


class INetworkDefinition:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.onnx: bytes | None = None


class _ParserError:
    def __init__(self, text: str) -> None:
        self.text = text

    def desc(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: Logger) -> None:
        self.network, self.logger = network, logger
        self._errors: list[_ParserError] = []

    def parse(self, model: bytes) -> bool:
        import onnx

        try:
            onnx.checker.check_model(onnx.load_from_string(bytes(model)))
        except Exception as exc:  # noqa: BLE001 - report any parse failure, as the real parser does
            self._errors.append(_ParserError(f"invalid ONNX model: {exc}"))
            return False
        self.network.onnx = bytes(model)
        return True

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> _ParserError:
        return self._errors[index]


class ITimingCache:
    def __init__(self, entries: dict[str, str]) -> None:
        self.entries = entries

    def serialize(self) -> bytes:
        return _CACHE_MAGIC + json.dumps(self.entries).encode()


class IBuilderConfig:
    def __init__(self) -> None:
        self.flags: set[BuilderFlag] = set()
        self.pool_limits: dict[MemoryPoolType, int] = {}
        self.timing_cache: ITimingCache | None = None

    def set_flag(self, flag: BuilderFlag) -> None:
        self.flags.add(flag)

    def get_flag(self, flag: BuilderFlag) -> bool:
        return flag in self.flags

    def set_memory_pool_limit(self, pool: MemoryPoolType, pool_size: int) -> None:
        self.pool_limits[pool] = pool_size

    def create_timing_cache(self, serialized_timing_cache: bytes) -> ITimingCache:
        data = bytes(serialized_timing_cache)
        if not data:
            return ITimingCache({})
        if not data.startswith(_CACHE_MAGIC):
            raise RuntimeError("timing cache is corrupt")
        return ITimingCache(json.loads(data[len(_CACHE_MAGIC):]))

    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool) -> bool:
        self.timing_cache = cache
        return True

    def get_timing_cache(self) -> ITimingCache | None:
        return self.timing_cache


class Builder:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> bytes | None:
        if network.onnx is None:
            self.logger.log(Logger.ERROR, "network has no layers")
            return None
        digest = hashlib.sha256(network.onnx).hexdigest()
        reused = config.timing_cache is not None and digest in config.timing_cache.entries
        if config.timing_cache is not None:
            config.timing_cache.entries[digest] = "tactics"
        fp16 = any(flag.name == "FP16" for flag in config.flags)  # tests may swap BuilderFlag for 11's
        BUILDS.append({"fp16": fp16, "flags": network.flags, "timing_reused": reused,
                       "workspace": config.pool_limits.get(MemoryPoolType.WORKSPACE)})
        header = {"version": __version__, "fp16": fp16, "io": _onnx_io(network.onnx)}
        head = json.dumps(header).encode()
        return _ENGINE_MAGIC + len(head).to_bytes(4, "little") + head + network.onnx


def _onnx_io(model: bytes) -> list[list]:
    """[[name, is_input, shape], ...] from an ONNX model's static graph inputs and outputs."""
    import onnx

    graph = onnx.load_from_string(model).graph
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]
    return [[v.name, True, dims(v)] for v in graph.input] + [[v.name, False, dims(v)] for v in graph.output]


class Runtime:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, serialized_engine: bytes) -> ICudaEngine | None:
        data = bytes(serialized_engine)
        try:
            if not data.startswith(_ENGINE_MAGIC):
                raise ValueError("magic tag does not match")
            size = int.from_bytes(data[8:12], "little")
            header = json.loads(data[12:12 + size])
            if header["version"] != __version__:
                raise ValueError(f"engine built by TensorRT {header['version']}, this is {__version__}")
            return ICudaEngine(header, data[12 + size:])
        except Exception as exc:  # noqa: BLE001 - the real runtime logs and returns None
            self.logger.log(Logger.ERROR, f"IRuntime::deserializeCudaEngine: {exc}")
            return None


class ICudaEngine:
    def __init__(self, header: dict, onnx_model: bytes) -> None:
        import onnxruntime as ort

        self.fp16 = header["fp16"]
        self._io = header["io"]
        self._session = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])

    @property
    def num_io_tensors(self) -> int:
        return len(self._io)

    def get_tensor_name(self, index: int) -> str:
        return self._io[index][0]

    def _entry(self, name: str) -> list:
        return next(e for e in self._io if e[0] == name)

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return TensorIOMode.INPUT if self._entry(name)[1] else TensorIOMode.OUTPUT

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._entry(name)[2])

    def get_tensor_dtype(self, name: str) -> DataType:
        return DataType.FLOAT

    def create_execution_context(self) -> IExecutionContext:
        return IExecutionContext(self)


class IExecutionContext:
    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine
        self.addresses: dict[str, int] = {}

    def set_tensor_address(self, name: str, memory: int) -> bool:
        self.addresses[name] = int(memory)
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        if set(self.addresses) != {e[0] for e in self.engine._io}:
            return False
        feeds = {name: _view(self.addresses[name], shape).copy() for name, is_in, shape in self.engine._io if is_in}
        outputs = self.engine._session.run(None, feeds)
        out_entries = [e for e in self.engine._io if not e[1]]
        for (name, _, shape), value in zip(out_entries, outputs):
            if self.engine.fp16:
                value = value.astype(np.float16).astype(np.float32)
            _view(self.addresses[name], shape)[...] = value
        return True


def _view(address: int, shape: list[int]) -> np.ndarray:
    """A float32 numpy view of `prod(shape)` values at a raw memory address."""
    count = int(np.prod(shape))
    return np.ctypeslib.as_array((ctypes.c_float * count).from_address(address)).reshape(shape)
