"""Frozen option bundles passed explicitly from the CLI to the library (no global args object)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vidcolor.hints import Hint


@dataclass(frozen=True)
class TemporalOptions:
    """The temporal step; defaults picked with benchmarks/bench_temporal.py (docs/BENCHMARKS.md)."""

    strength: float = 0.8  # past's share of a trusted pixel, in [0, 1] (1 acts as 0.95); 0 = per-frame output
    flow_preset: str = "ultrafast"  # OpenCV DIS preset: ultrafast | fast | medium | fine
    consistency_px: float = 1.0  # forward-backward flow round-trip error (px) above which a pixel is occluded
    luma_tolerance: float = 0.06  # warped previous luma this far (in [0,1] units) from the current is not trusted
    detail_sigma_px: float = 0.0  # restore the per-frame output's contrast of detail finer than this (model px); 0 = off
    scene_cut_threshold: float = 0.8  # 1 - correlation of 32x18 thumbnails that counts as a cut (cheap pre-test)

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"temporal strength must be in [0, 1], got {self.strength}")


@dataclass(frozen=True)
class EncodeOptions:
    codec: str = "libx264"  # FFmpeg encoder name
    crf: int | None = 18  # constant rate factor where the encoder has one
    preset: str | None = "medium"  # encoder speed preset where the encoder has one
    pix_fmt: str | None = None  # None: yuv420p (or yuv420p10le for 10-bit input when the codec allows)
    threads: int = 0  # encoder threads; 0: picked from the frame size (video.writer.encoder_threads)


@dataclass(frozen=True)
class SegmentOptions:
    """How a long film is cut into segments that are encoded, resumed and run in parallel on their own."""

    target_frames: int = 1800  # a segment ends at the first scene cut past half this length (1800: 75 s at 24 fps)
    warmup_frames: int | None = None  # frames before a segment fed to the temporal step only; None: until the past's weight is under 1%

    def __post_init__(self) -> None:
        if self.target_frames < 2:
            raise ValueError(f"segments need at least 2 frames, got {self.target_frames}")

    @property
    def max_frames(self) -> int:
        """Longest segment: without a scene cut, one is cut here (at a key frame when there is one)."""
        return 2 * self.target_frames


@dataclass(frozen=True)
class RunOptions:
    input: Path  # the video to colourize; never modified
    output: Path  # final path; written via a temporary file beside it
    style: str = "natural"  # a style (vidcolor.styles.STYLES, or a user style), or a blend "ukiyoe:0.6,starry:0.4"
    backend: str = "auto"  # auto | torch | onnxruntime | tensorrt
    device: str = "auto"  # auto | cpu | cuda
    model_height: int = 256  # model input height in px (multiple of 32); width follows the aspect
    batch: int = 4  # frames per model call
    overwrite: bool = False  # replace an existing output
    quiet: bool = False  # no progress bar
    temporal: TemporalOptions | None = field(default_factory=TemporalOptions)  # None = per-frame
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    weights: Path | None = None  # a checkpoint instead of the shipped weights
    engine_dir: Path | None = None  # where compiled engines are cached
    vividness: float | None = None  # natural: 0 = the most likely mean colour .. 1 = bolder guesses; None = the weights' calibrated default
    segments: SegmentOptions = field(default_factory=SegmentOptions)  # films longer than max_frames are cut
    resume: bool = True  # continue from the finished segments of an interrupted run of the same settings
    keep_work: bool = False  # keep the work folder (the segment files) after success
    workers: int = 1  # segments processed at once, each in its own process
    ray: str | None = None  # address of a Ray cluster ("auto", "host:port") to run the segments on
    black_borders: bool = True  # keep letterbox/pillarbox bars black in every style (decided per shot)
    strength: float = 1.0  # painting styles: 1 = the full style .. 0 = the natural colourization of the same weights
    styles_dir: Path | None = None  # where user styles are looked up (None: vidcolor.userstyles.styles_dir())
    hints: tuple[Hint, ...] = ()  # natural: colours known at points of the picture, given to every frame (vidcolor.hints)
    references: tuple[Path, ...] = ()  # natural: colour pictures of the film's framing (one per shot, say); each frame takes the one it matches (vidcolor.reference)


@dataclass(frozen=True)
class EngineSpec:
    style: str  # style, user style or blend the engine is built for (load_backend: engine.engine_variant)
    height: int  # model input height (multiple of 32)
    width: int  # model input width (multiple of 32)
    batch: int = 1  # static batch size
    precision: str = "fp16"  # fp16 | fp32 (TensorRT; the onnxruntime export is always fp32)
    backend: str = "tensorrt"  # tensorrt | onnxruntime
    weights: Path | None = None  # a checkpoint instead of the shipped weights

    def __post_init__(self) -> None:
        from vidcolor.errors import BackendError

        if self.precision not in ("fp16", "fp32"):
            raise BackendError(f"unknown precision {self.precision!r}", "choose fp16 or fp32")
        if self.backend not in ("tensorrt", "onnxruntime"):
            raise BackendError(f"cannot build engines for backend {self.backend!r}", "choose tensorrt or onnxruntime")
        if self.batch < 1 or min(self.height, self.width) < 32 or self.height % 32 or self.width % 32:
            raise BackendError(
                f"bad engine shape {self.width}x{self.height} batch {self.batch}",
                "width and height must be multiples of 32 and batch at least 1",
            )
