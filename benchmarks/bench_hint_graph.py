"""Model-only ms a frame at 256x448, one thread: automatic, hint graph (ONNX Runtime) at capacity 64 / 448, torch eager."""
import time, tempfile, numpy as np, torch
from pathlib import Path
from vidcolor.backends import load_backend
from vidcolor.reference import Reference
H, W = 256, 448
tmp = Path(tempfile.mkdtemp())
luma = np.random.default_rng(0).random((1, 1, H, W), dtype=np.float32)
def med(f, n=15):
    f(); ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return 1000 * np.median(ts)
grid = np.zeros((1, 3, H, W), np.float32); grid[0, :, 8::16, 8::16] = np.array([0.2, -0.1, 1.0])[:, None, None]
few = np.zeros((1, 3, H, W), np.float32); few[0, :, 100:103, 200:203] = np.array([0.2, -0.1, 1.0])[:, None, None]
ref = Reference(np.zeros((H, W), np.float32), np.zeros((2, H, W), np.float32))
for name in ("onnxruntime", "torch"):
    with load_backend(name, "natural", H, W, 1, "cpu", engine_dir=tmp) as b:
        print(name, "automatic", round(med(lambda: b.infer(luma)), 1))
    with load_backend(name, "natural", H, W, 1, "cpu", engine_dir=tmp, hints=torch.from_numpy(few[0])) as b:
        print(name, "--hint (1 point, capacity", b.source.capacity, ")", round(med(lambda: b.backend.infer(luma, few)), 1))
    with load_backend(name, "natural", H, W, 1, "cpu", engine_dir=tmp, references=(ref,)) as b:
        print(name, "448 grid hints (capacity", b.source.capacity, ")", round(med(lambda: b.backend.infer(luma, grid)), 1))
