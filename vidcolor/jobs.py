"""Several inputs, one job each: `vidcolor run a.jpg b.mp4 folder/`.

    jobs = [replace(options, input=p, output=default_output(p, style)) for p in expand_inputs(paths)]
    results = run_jobs(jobs)            # one failing job does not stop the others

`run_job` is the one place that decides how an input is run (photo or film); per-video work such
as segmenting and resuming plugs in there.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol

from vidcolor.errors import InputError, VidcolorError
from vidcolor.image import IMAGE_FORMATS, is_image_path
from vidcolor.options import RunOptions
from vidcolor.blend import is_output_label, style_names

# What a folder given as input contributes: its photos and its videos (not its subfolders).
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv", ".ogv", ".3gp", ".dv"}


class Summary(Protocol):
    output: Path
    seconds: float
    warnings: tuple[str, ...]

    def line(self) -> str: ...


@dataclass(frozen=True)
class JobResult:
    input: Path  # what was asked for
    output: Path  # where the result went (or would have gone)
    seconds: float  # wall time of the job, failed ones included
    summary: Summary | None = None  # RunSummary or ImageSummary when it worked
    error: VidcolorError | Exception | None = None  # why it failed
    exit_code: int = 0  # 0 done, 1 a problem the user can fix, 2 anything else

    @property
    def ok(self) -> bool:
        return self.error is None


def run_job(options: RunOptions) -> Summary:
    """Run one input: a photo when both input and output are image files, else a video.

    (So an animated GIF given ``-o anim.natural.mkv`` runs as the film it is.)
    """
    if is_image_path(options.input) and is_image_path(options.output):
        from vidcolor.image import run_image

        return run_image(options)
    from vidcolor.pipeline import run_video

    return run_video(options)


def run_jobs(
    jobs: Iterable[RunOptions],
    run: Callable[[RunOptions], Summary] = run_job,
    on_done: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Run each job in turn; a failing one is recorded and the next one starts.

    ``on_done`` sees each result as it finishes. Ctrl-C stops them all (the job running leaves
    nothing behind, as always; finished ones are kept).
    """
    results = []
    for options in jobs:
        start = time.perf_counter()
        summary, error, code = None, None, 0
        try:
            summary = run(options)
        except VidcolorError as e:
            error, code = e, e.exit_code
        except Exception as e:  # noqa: BLE001 - one broken input must not stop the batch
            error, code = e, 2
        result = JobResult(options.input, options.output, time.perf_counter() - start, summary, error, code)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a folder becomes its photos and videos, sorted by name.

    Hidden files and earlier results (``name.<style>.ext``) in a folder are left out, so running a
    folder twice does not colour the colourized. A folder with nothing to run is an InputError.
    """
    found: list[Path] = []
    names = style_names()  # the built-in styles and the user's own
    for path in map(Path, paths):
        if not path.is_dir():
            found.append(path)
            continue
        media = sorted(p for p in path.iterdir() if p.is_file() and _runnable(p, names))
        if not media:
            raise InputError(f"no images or videos in folder {path}", "give the files, or a folder that holds .jpg .png .tif .webp .mp4 .mkv ... files")
        found.extend(media)
    return found


def _runnable(path: Path, styles: set[str]) -> bool:
    suffix = path.suffix.lower()
    if path.name.startswith(".") or (suffix not in IMAGE_FORMATS and suffix not in VIDEO_SUFFIXES):
        return False
    return not is_output_label(Path(path.stem).suffix[1:], styles)  # "photo.natural.jpg", "film.ukiyoe60-starry40.mp4": earlier results
