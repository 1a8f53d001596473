"""Would int8 make the CPU model faster? Static int8 of the exported natural generator against float.

    python benchmarks/bench_int8.py [--weights W] [--threads 1] [--repeats 7]

The natural generator is exported as `vidcolor run` exports it (onnxruntime, 256x448, one frame a
run), then quantized by onnxruntime's ``quantize_static`` (QDQ, Conv only, per-channel int8 weights,
uint8 activations calibrated on 16 grey frames of the Winter sample). Both graphs are timed in
alternation with the run's session options; prints frames/s medians, the ratio, and how far the int8
a/b output is from the float one (a/b units). Pause any training while this runs.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "Winter_Scenes_in_Holland.mp4"
SIZE = (256, 448)


def calibration_inputs(n: int = 16, every: int = 6) -> list[np.ndarray]:
    """n grey frames of the sample, every `every`-th, as model inputs (1, 1, 256, 448) float32."""
    from vidcolor.color import to_model_input

    out = []
    with av.open(str(SAMPLE)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % every == 0:
                out.append(to_model_input(f.to_ndarray(format="gray"), SIZE, full_range=True)[None, None])
            if len(out) == n:
                break
    return out


def quantized(onnx: Path, inputs: list[np.ndarray], out: Path) -> Path:
    """Static int8 (QDQ, Conv only) of `onnx`, calibrated on `inputs`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(inputs)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"luma": x}

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(onnx), str(pre))
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    import onnxruntime as ort

    from vidcolor.backends import load_backend
    from vidcolor.backends.onnxruntime_backend import session_options

    inputs = calibration_inputs()
    with tempfile.TemporaryDirectory() as tmp:
        load_backend("onnxruntime", "natural", *SIZE, 4, "cpu", weights=args.weights, engine_dir=Path(tmp)).close()
        onnx = next(Path(tmp).glob("*.onnx"))
        graphs = {"float": onnx, "int8": quantized(onnx, inputs, Path(tmp) / "int8.onnx")}
        sessions = {k: ort.InferenceSession(str(p), session_options(args.threads), providers=["CPUExecutionProvider"]) for k, p in graphs.items()}
        outs = {k: np.concatenate([s.run(None, {"luma": x})[0] for x in inputs]) for k, s in sessions.items()}
        diff = np.abs(outs["float"] - outs["int8"])
        fps: dict[str, list[float]] = {k: [] for k in sessions}
        for _ in range(args.repeats):
            for k, s in sessions.items():
                t0 = time.perf_counter()
                for x in inputs[:8]:
                    s.run(None, {"luma": x})
                fps[k].append(8 / (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in fps.items()}
    print(f"model only, 256x448, one frame a run: float {med['float']:.1f} frames/s, int8 {med['int8']:.1f} ({med['int8'] / med['float']:.2f}x)")
    print(f"int8 - float a/b output: mean |diff| {diff.mean():.2f}, max {diff.max():.1f} (mean |a/b| of float {np.abs(outs['float']).mean():.2f})")


if __name__ == "__main__":
    main()
