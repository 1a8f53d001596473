"""The reference backend: eager PyTorch. CPU in float32; CUDA in fp16 + channels_last, optionally
torch.compile'd and replayed as a CUDA graph (the shape is static, so one capture serves every call).
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from vidcolor.backends.base import StaticShapeBackend, default_threads
from vidcolor.errors import BackendError


class TorchBackend(StaticShapeBackend):
    """Runs `module` ((N,1,h,w) luma -> (N,C,h,w)) on `device`: on CUDA at the static shape
    (batch,1,h,w), on the CPU one frame per call (see StaticShapeBackend).

    `compile`: torch.compile the module (CUDA only: on CPU the first call costs more than it saves).
    `cuda_graph`: capture one forward pass as a CUDA graph and replay it (CUDA only).
    `threads`: intra-op threads on CPU (default: base.default_threads())."""

    name = "torch"

    def __init__(
        self, module: torch.nn.Module, batch: int, height: int, width: int, device: str = "cpu",
        compile: bool = False, cuda_graph: bool = False, threads: int | None = None,
    ) -> None:
        self.device = torch.device(device)
        cuda = self.device.type == "cuda"
        super().__init__(batch, height, width, model_batch=batch if cuda else 1)
        if cuda and not torch.cuda.is_available():
            raise BackendError("device cuda asked for, but torch sees no CUDA GPU", "use --device cpu")
        if (compile or cuda_graph) and not cuda:
            raise BackendError("compile and CUDA graphs need --device cuda")
        if cuda:
            torch.backends.cudnn.benchmark = True  # one static shape: pick the fastest conv kernels once
        else:
            torch.set_num_threads(threads or default_threads())
        self.dtype = torch.float16 if cuda else torch.float32
        self.takes_hints = hasattr(module, "hint_capacity")  # a hint graph (vidcolor.hints.HintGraph) takes (luma, hints)
        self.memory_format = torch.channels_last if cuda else torch.contiguous_format
        net = copy.deepcopy(module).eval().to(self.device, self.dtype, memory_format=self.memory_format)
        self._net = torch.compile(net) if compile else net  # graphs, if any, are captured below
        self._input = torch.zeros(self.model_batch, 1, height, width, device=self.device, dtype=self.dtype)
        self._input = self._input.contiguous(memory_format=self.memory_format)
        self._graph, self._graph_output = self._capture() if cuda_graph else (None, None)

    @torch.inference_mode()
    def _capture(self) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        """Warm up on a side stream (as torch.cuda.graphs requires: cuDNN autotuning, compiled kernels
        and allocations happen there), then record one forward pass on that same stream."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self._net(self._input)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=side):
            output = self._net(self._input)
        return graph, output

    @torch.inference_mode()
    def _run(self, luma: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        x = torch.from_numpy(luma)
        if hints is not None:  # a hint graph: eager (it gathers each batch's hinted pixels), no CUDA graph
            return self._net(x.to(self.device, self.dtype), torch.from_numpy(hints).to(self.device, self.dtype)).float().cpu().numpy()
        if self.device.type == "cpu":
            return self._net(x).float().numpy()
        self._input.copy_(x)  # static buffer: the captured graph reads from this memory
        out = self._graph_output if self._graph is not None else self._net(self._input)
        if self._graph is not None:
            self._graph.replay()
        return out.float().cpu().numpy()

    def close(self) -> None:
        self._graph = self._graph_output = self._net = None
