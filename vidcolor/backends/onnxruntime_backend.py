"""ONNX Runtime backend: the generator exported to ONNX once per (weights, style, shape, batch) and
run by an InferenceSession: CPUExecutionProvider, or the CUDA provider when installed and asked for.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vidcolor.backends.base import StaticShapeBackend, check_shape, default_threads
from vidcolor.engine import HINTS_NAME, INPUT_NAME, cached_onnx
from vidcolor.errors import BackendError

INSTALL_HINT = "pip install onnxruntime (or onnxruntime-gpu for the CUDA provider)"


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(f"onnxruntime is not available ({exc})", INSTALL_HINT) from None
    return onnxruntime


def session_options(threads: int | None = None):
    """Tuned for one static-shape model: all graph optimisations, base.default_threads() intra-op
    threads, no inter-op parallelism (the graph is a chain), and no busy-wait spinning between
    calls, so that decode and encode threads get the cores while the model waits for frames."""
    ort = import_onnxruntime()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only
    return opts


def model_batch(device: str, batch: int) -> int:
    """Frames per session run: 1 on the CPU provider (cheaper per frame, see StaticShapeBackend),
    the whole batch on the CUDA provider."""
    return 1 if providers_for(device)[0] == "CPUExecutionProvider" else batch


def providers_for(device: str) -> list[str]:
    """Execution providers for --device auto | cpu | cuda."""
    available = import_onnxruntime().get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise BackendError("onnxruntime has no CUDA provider here", "pip install onnxruntime-gpu, or use --device cpu")
    return ["CPUExecutionProvider"]


class OnnxRuntimeBackend(StaticShapeBackend):
    """Runs an exported generator (input "luma" (m,1,h,w) -> output (m,C,h,w)) in ONNX Runtime; infer
    takes up to `batch` frames and runs them m at a time (m from the ONNX file, m <= batch)."""

    name = "onnxruntime"

    def __init__(
        self, onnx_path: Path, batch: int, height: int, width: int, device: str = "cpu", threads: int | None = None
    ) -> None:
        check_shape(batch, height, width)
        ort = import_onnxruntime()
        self.providers = providers_for(device)
        try:
            self._session = ort.InferenceSession(str(onnx_path), session_options(threads), providers=self.providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors derive from Exception only
            raise BackendError(f"onnxruntime cannot load {onnx_path}: {exc}", "delete the file to re-export it")
        inputs = {i.name: tuple(i.shape) for i in self._session.get_inputs()}
        shape = inputs.get(INPUT_NAME, ())
        if len(shape) != 4 or shape[1:] != (1, height, width) or not 1 <= shape[0] <= batch:
            raise BackendError(f"{Path(onnx_path).name} takes {shape}, expected (<={batch}, 1, {height}, {width})")
        self.takes_hints = HINTS_NAME in inputs  # a hint graph (vidcolor.hints.HintGraph)
        super().__init__(batch, height, width, model_batch=shape[0])

    @classmethod
    def from_module(
        cls, module, style: str, batch: int, height: int, width: int, engine_dir: Path,
        device: str = "cpu", threads: int | None = None,
    ) -> OnnxRuntimeBackend:
        """Export `module` (cached in `engine_dir`) and open a session on it."""
        path = cached_onnx(module, style, height, width, model_batch(device, batch), Path(engine_dir))
        return cls(path, batch, height, width, device, threads)

    def _run(self, luma: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        feeds = {INPUT_NAME: luma} if hints is None else {INPUT_NAME: luma, HINTS_NAME: hints}
        return self._session.run(None, feeds)[0]

    def close(self) -> None:
        self._session = None
