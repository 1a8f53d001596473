"""What every backend shares: the `Backend` protocol, input checks and short-batch padding."""
from __future__ import annotations

import os
from typing import Protocol, Self, runtime_checkable

import numpy as np

from vidcolor.errors import BackendError


@runtime_checkable
class Backend(Protocol):
    """Runs one style's generator at one static shape (batch, 1, height, width)."""

    name: str  # "torch" | "onnxruntime" | "tensorrt"
    batch: int  # the most frames one infer() call takes

    def infer(self, luma: np.ndarray) -> np.ndarray:
        """(N,1,h,w) float32 luma in [0,1], N <= batch -> (N,C,h,w) float32 (Lab a/b or RGB [0,1]).
        A backend of a hint graph (vidcolor.hints.HintGraph) also takes ``hints`` (N,3,h,w) float32;
        vidcolor.hints.HintedBackend gives them, so callers see this one-argument form."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class StaticShapeBackend:
    """Base for backends whose model is compiled for one (model_batch, 1, height, width) shape.

    `infer` takes up to `batch` frames (and, for a hint graph, their hints), pads them by repeating
    the last frame to a multiple of `model_batch`, calls `_run` on each chunk of `model_batch`
    frames and drops the padding.
    On a CPU `model_batch` is 1: one frame per call costs less CPU time per frame than a batch of
    4 (10-15% for onnxruntime, up to 2x for torch; docs/BENCHMARKS.md), and nothing is padded.
    Subclasses implement `_run` and `close`.
    """

    name = "static"
    takes_hints = False  # a hint graph's backend sets it: its model takes (luma, hints)

    def __init__(self, batch: int, height: int, width: int, model_batch: int | None = None) -> None:
        check_shape(batch, height, width)
        self.batch, self.height, self.width = batch, height, width
        self.model_batch = model_batch or batch

    def infer(self, luma: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        n = check_luma(luma, self.batch, self.height, self.width)
        if (hints is not None) != self.takes_hints:
            raise ValueError("this model takes hints" if self.takes_hints else "this model has no hint input")
        step = self.model_batch
        size = -(-n // step) * step
        padded = pad_batch(np.ascontiguousarray(luma, dtype=np.float32), size)
        if hints is not None:
            check_hints(hints, n, self.height, self.width)
            hints = pad_batch(np.ascontiguousarray(hints, dtype=np.float32), size)
        outs = [self._run(padded[i:i + step], None if hints is None else hints[i:i + step]) for i in range(0, size, step)]
        return (outs[0] if len(outs) == 1 else np.concatenate(outs))[:n]

    def _run(self, luma: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        """(model_batch,1,h,w) float32 [, hints (model_batch,3,h,w) float32] -> (model_batch,C,h,w) float32."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} batch={self.batch} {self.height}x{self.width}>"


def check_shape(batch: int, height: int, width: int) -> None:
    """Raise BackendError unless batch >= 1 and height, width are positive multiples of 32."""
    if batch < 1:
        raise BackendError(f"batch must be at least 1, got {batch}")
    if height < 32 or width < 32 or height % 32 or width % 32:
        raise BackendError(
            f"model size {width}x{height} is not usable", "width and height must be multiples of 32"
        )


def check_luma(luma: np.ndarray, batch: int, height: int, width: int) -> int:
    """Validate a (N,1,height,width) float array with 1 <= N <= batch; return N."""
    if not isinstance(luma, np.ndarray) or luma.ndim != 4 or luma.shape[1:] != (1, height, width):
        shape = getattr(luma, "shape", type(luma).__name__)
        raise ValueError(f"expected luma of shape (N,1,{height},{width}), got {shape}")
    n = luma.shape[0]
    if not 1 <= n <= batch:
        raise ValueError(f"expected 1 to {batch} frames per call, got {n}")
    return n


def check_hints(hints: np.ndarray, n: int, height: int, width: int) -> None:
    """Raise ValueError unless ``hints`` is an (n,3,height,width) array: one set of planes per frame."""
    if not isinstance(hints, np.ndarray) or hints.shape != (n, 3, height, width):
        raise ValueError(f"expected hints of shape ({n},3,{height},{width}), got {getattr(hints, 'shape', type(hints).__name__)}")


def pad_batch(luma: np.ndarray, batch: int) -> np.ndarray:
    """(N,...) -> (batch,...) by repeating the last frame; returns the input itself when N == batch."""
    n = luma.shape[0]
    if n == batch:
        return luma
    return np.concatenate([luma, np.repeat(luma[-1:], batch - n, axis=0)])


def physical_cores() -> int:
    """CPU cores this process may use, counting each physical core once where that is known."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import psutil  # optional: knows about SMT siblings

        return max(1, min(allowed, psutil.cpu_count(logical=False) or allowed))
    except ImportError:
        return max(1, allowed)


def default_threads() -> int:
    """Intra-op threads for a CPU backend: one per physical core but one, left to the decode, flow
    and encode work that runs beside the model; at least 1. When every stage overlaps, throughput
    is set by total CPU time per frame, and a second intra-op thread costs more CPU than it saves
    (onnxruntime at 256x448: 44 vs 53 CPU ms/frame), while torch's spin-waiting OpenMP pool, given
    every core of a busy 2-core machine, ran 5 to 50 times slower (docs/BENCHMARKS.md)."""
    return max(1, physical_cores() - 1)
