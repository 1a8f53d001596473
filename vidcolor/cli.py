"""The `vidcolor` command: parses options, calls one library function per command.

A VidcolorError becomes one red line (plus a hint) and exit code 1; any other exception a short
message and exit code 2 (the traceback only with --debug); Ctrl-C exits with 130. Heavy modules
are imported inside the commands so `vidcolor --help` stays instant.
"""
from __future__ import annotations

import json
import platform
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.traceback import Traceback

from vidcolor import __version__
from vidcolor.blend import blend_label, parse_blend, resolve_style
from vidcolor.errors import VidcolorError
from vidcolor.options import EncodeOptions, EngineSpec, RunOptions, TemporalOptions
from vidcolor.styles import DEFAULT_STYLE, STYLES

app = typer.Typer(
    name="vidcolor",
    help="Bring black-and-white film back in colour, or turn footage into moving artworks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]
StylesDir = Annotated[Optional[Path], typer.Option(help="Folder of your own styles (vidcolor add-style); default $VIDCOLOR_STYLES_DIR or ~/.local/share/vidcolor/styles.")]


@contextmanager
def errors_handled(debug: bool) -> Iterator[None]:
    """Turn exceptions into a message and an exit code (see the module docstring)."""
    try:
        yield
    except typer.Exit:
        raise
    except VidcolorError as e:
        if debug:
            err.print_exception()
        err.print(f"[bold red]error:[/] {escape(e.message)}", soft_wrap=True)
        if e.hint:
            err.print(f"[dim]hint:[/] {escape(e.hint)}", soft_wrap=True)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt as e:  # a segmented film says which finished segments it keeps (errors.Interrupted)
        err.print(f"[yellow]interrupted[/]: {escape(getattr(e, 'message', 'nothing was written'))}", soft_wrap=True)
        raise typer.Exit(130) from None
    except Exception as e:
        if debug:
            err.print_exception()
        err.print(f"[bold red]unexpected error:[/] {escape(type(e).__name__)}: {escape(str(e))}", soft_wrap=True)
        if not debug:
            err.print("[dim]run with --debug for the traceback[/]")
        raise typer.Exit(2) from None


def default_output(source: Path, style: str, strength: float = 1.0, styles_dir: Path | None = None) -> Path:
    """`<stem>.<style><ext>` beside the input; photos keep their format, containers vidcolor does
    not write become .mkv. A blend is named by its shares (ukiyoe60-starry40), a strength below 1
    adds its percent (ukiyoe-s50)."""
    from vidcolor.image import is_image_path
    from vidcolor.video.writer import CONTAINERS

    style = blend_label(parse_blend(style, styles_dir))  # ukiyoe:0.6,starry:0.4 -> ukiyoe60-starry40
    if strength < 1.0:
        style += f"-s{round(100 * strength)}"
    ext = source.suffix.lower()
    if is_image_path(source):
        return source.with_name(f"{source.stem}.{style}{source.suffix}")
    keep = ext in CONTAINERS and ext not in (".webm", ".avi")  # libx264 does not go in webm; avi loses metadata
    return source.with_name(f"{source.stem}.{style}{source.suffix if keep else '.mkv'}")


@app.command()
def run(
    inputs: Annotated[list[Path], typer.Argument(help="Videos, photos or folders of them (never modified).", metavar="INPUT...", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Where to write (one input only); default <name>.<style>.<ext> beside the input.")] = None,
    style: Annotated[str, typer.Option(help="Style name, or a blend such as ukiyoe:0.6,starry:0.4; see `vidcolor styles`.")] = DEFAULT_STYLE,
    strength: Annotated[float, typer.Option(help="Painting styles: 1 = the full style .. 0 = the natural colourization.")] = 1.0,
    backend: Annotated[str, typer.Option(help="auto | torch | onnxruntime | tensorrt")] = "auto",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    model_height: Annotated[int, typer.Option(help="Model input height in px (multiple of 32).")] = 256,
    batch: Annotated[int, typer.Option(help="Frames per model call.")] = 4,
    temporal: Annotated[float, typer.Option(help="Temporal smoothing strength, 0..1.")] = TemporalOptions().strength,
    no_temporal: Annotated[bool, typer.Option("--no-temporal", help="Colour each frame on its own.")] = False,
    codec: Annotated[str, typer.Option(help="FFmpeg video encoder, e.g. libx264, libx265, ffv1.")] = EncodeOptions().codec,
    crf: Annotated[Optional[int], typer.Option(help="Constant rate factor (lower = better, bigger).")] = EncodeOptions().crf,
    preset: Annotated[Optional[str], typer.Option(help="Encoder speed preset, e.g. medium, slow.")] = EncodeOptions().preset,
    pix_fmt: Annotated[Optional[str], typer.Option(help="Output pixel format, e.g. yuv420p10le; default follows the input.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    weights: Annotated[Optional[Path], typer.Option(help="A checkpoint to use instead of the shipped weights.")] = None,
    engine_dir: Annotated[Optional[Path], typer.Option(help="Where compiled engines are cached.")] = None,
    workers: Annotated[int, typer.Option(help="Segments of a long film processed at once, each in its own process.")] = 1,
    ray: Annotated[Optional[str], typer.Option(help="Run a long film's segments on a Ray cluster: its address, or auto.")] = None,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="Start afresh, discarding what an interrupted run finished.")] = False,
    keep_work: Annotated[bool, typer.Option("--keep-work", help="Keep the segment files of a long film after success.")] = False,
    vividness: Annotated[Optional[float], typer.Option(help="natural: 0 = the safest, muted colours .. 1 = bold guesses; default: calibrated, one for pictures and one for video.")] = None,
    no_black_borders: Annotated[bool, typer.Option("--no-black-borders", help="Let the style paint letterbox/pillarbox bars too.")] = False,
    hint: Annotated[Optional[list[str]], typer.Option(
        "--hint", metavar="X,Y,COLOR[@TIME]", show_default=False,
        help="natural: the colour at pixel X,Y (from the top-left) is COLOR (#rrggbb, #rgb or a CSS name); repeatable. "
             "A film gets the same points in every frame (a fixed camera, a title card), or, with @TIME (seconds or M:SS), "
             "on the frame at that time only: that frame is coloured with them and its colours follow the shot as a --reference.")] = None,
    reference: Annotated[Optional[list[Path]], typer.Option(
        "--reference", metavar="PICTURE", show_default=False,
        help="natural: a colour picture with the same framing (one frame coloured by hand, a colour still of the scene); "
             "each frame takes its colours wherever it matches them. Repeatable: one per shot; each frame uses the one it matches best.")] = None,
    styles_dir: StylesDir = None,
    debug: Debug = False,
) -> None:
    """Colourize (or stylize) videos and photos; sound, timing and metadata are kept."""
    from vidcolor.blend import check_strength
    from vidcolor.hints import check_hint_support, parse_hint
    from vidcolor.reference import read_reference
    from vidcolor.jobs import expand_inputs, run_job, run_jobs

    with errors_handled(debug):
        spec = resolve_style(style, weights, styles_dir)  # "ukiyoe:1" -> "ukiyoe"; a blend's names and weights checked
        style = spec.name
        check_strength(strength, spec)
        if not 0.0 <= temporal <= 1.0:
            raise VidcolorError(f"--temporal must be between 0 and 1, got {temporal}", "use --no-temporal to switch it off")
        if vividness is not None and not 0.0 <= vividness <= 1.0:
            raise VidcolorError(f"--vividness must be between 0 and 1, got {vividness}", "0 gives the most likely (muted) colours, 1 the boldest")
        if vividness is not None and spec.mode != "colorize":
            raise VidcolorError(f"--vividness is for colourizing styles; {style!r} paints its own palette", "leave --vividness out, or use --style natural")
        hints = tuple(parse_hint(text) for text in hint or ())
        if hints:  # once, not per input; the points are checked against each picture's size
            check_hint_support(spec, weights, styles_dir)
        references = tuple(reference or ())
        if references:  # once; their shape is checked against each picture's
            check_hint_support(spec, weights, styles_dir, option="--reference")
            for path in references:
                read_reference(path)
        options = RunOptions(
            input=inputs[0],
            output=output or default_output(inputs[0], style, strength, styles_dir),
            style=style,
            backend=backend,
            device=device,
            model_height=model_height,
            batch=batch,
            overwrite=overwrite,
            quiet=quiet,
            temporal=None if no_temporal else TemporalOptions(strength=temporal),
            encode=EncodeOptions(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt),
            weights=weights,
            engine_dir=engine_dir,
            vividness=vividness,
            workers=workers,
            ray=ray,
            resume=not no_resume,
            keep_work=keep_work,
            black_borders=not no_black_borders,
            strength=strength,
            styles_dir=styles_dir,
            hints=hints,
            references=references,
        )
        if len(inputs) == 1 and not inputs[0].is_dir():
            print_summary(run_job(options), quiet)
            return
        if output is not None:
            raise VidcolorError("--output names one file, so it cannot go with several inputs", "leave it out: each result goes beside its input")
        jobs = [replace(options, input=path, output=default_output(path, style, strength, styles_dir)) for path in expand_inputs(inputs)]
        results = run_jobs(jobs, on_done=lambda result: report_job(result, quiet, debug))
    if not quiet:
        out.print(jobs_table(results))
    failed = [r.exit_code for r in results if not r.ok]
    if failed:
        raise typer.Exit(max(failed))


def print_summary(summary, quiet: bool) -> None:
    """A finished job's warnings (stderr) and, unless quiet, its one-line summary."""
    for warning in summary.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    if not quiet:
        out.print(escape(summary.line()), soft_wrap=True)


def report_job(result, quiet: bool, debug: bool) -> None:
    """One job of several, as it finishes: its summary, or its error (always shown)."""
    if result.ok:
        print_summary(result.summary, quiet)
        return
    if debug:
        err.print(Traceback.from_exception(type(result.error), result.error, result.error.__traceback__))
    message = getattr(result.error, "message", None) or f"{type(result.error).__name__}: {result.error}"
    err.print(f"[bold red]error:[/] {escape(str(result.input))}: {escape(message)}", soft_wrap=True)
    if getattr(result.error, "hint", None):
        err.print(f"[dim]hint:[/] {escape(result.error.hint)}", soft_wrap=True)


def jobs_table(results) -> Table:
    """The batch at a glance: each input, whether it worked, where it went or why not, how long."""
    table = Table(title=f"{sum(r.ok for r in results)} of {len(results)} done", title_justify="left")
    for column in ("input", "", "result", "time"):
        table.add_column(column, overflow="fold")
    for r in results:
        status = "[green]done[/]" if r.ok else "[red]failed[/]"
        detail = str(r.output) if r.ok else getattr(r.error, "message", None) or f"{type(r.error).__name__}: {r.error}"
        table.add_row(escape(str(r.input)), status, escape(detail), f"{r.seconds:.1f} s")
    return table


@app.command()
def preview(
    film: Annotated[Path, typer.Argument(help="The film to preview (never modified).", show_default=False)],
    styles: Annotated[Optional[str], typer.Option("--styles", help="Comma-separated styles, e.g. natural,ukiyoe; default: all.")] = None,
    frames: Annotated[int, typer.Option(help="Moments of the film, evenly spread.")] = 6,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The PNG to write; default <name>.preview.png beside the film.")] = None,
    backend: Annotated[str, typer.Option(help="auto | torch | onnxruntime | tensorrt (torch: nothing to compile for a few frames).")] = "torch",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    model_height: Annotated[int, typer.Option(help="Model input height in px (multiple of 32).")] = 256,
    weights: Annotated[Optional[Path], typer.Option(help="A checkpoint to use instead of the shipped weights.")] = None,
    engine_dir: Annotated[Optional[Path], typer.Option(help="Where compiled engines are cached.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing sheet.")] = False,
    strength: Annotated[float, typer.Option(help="Painting styles at this strength: 1 = full style .. 0 = natural colourization.")] = 1.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line.")] = False,
    debug: Debug = False,
) -> None:
    """A few frames spread across a film, in every style, on one labelled PNG: seconds, not hours."""
    with errors_handled(debug):
        from vidcolor.preview import PreviewOptions
        from vidcolor.preview import preview as make_preview

        names = tuple(name.strip() for name in styles.split(",") if name.strip()) if styles is not None else None
        if names == ():
            raise VidcolorError("--styles is empty", "give style names separated by commas, e.g. natural,ukiyoe")
        summary = make_preview(PreviewOptions(
            input=film, output=output or film.with_name(f"{film.stem}.preview.png"), styles=names, frames=frames,
            backend=backend, device=device, model_height=model_height, weights=weights, engine_dir=engine_dir,
            overwrite=overwrite, strength=strength,
        ))
        if not quiet:
            out.print(escape(summary.line()), soft_wrap=True)


@app.command()
def styles(
    sheet: Annotated[Optional[Path], typer.Option(help="Write a PNG of one frame in every available style, labelled.")] = None,
    frame: Annotated[Optional[Path], typer.Option(help="The film (or photo) the sheet shows; default: a sample film.", metavar="FILM")] = None,
    at: Annotated[Optional[float], typer.Option(help="Seconds into the film of the sheet's frame; default: the middle.")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Show the styles of this checkpoint instead of the shipped ones.")] = None,
    styles_dir: StylesDir = None,
    debug: Debug = False,
) -> None:
    """List the styles vidcolor ships and your own; --sheet shows one frame in each."""
    if sheet is not None:
        with errors_handled(debug):
            from vidcolor.gallery import style_sheet

            out.print(escape(str(style_sheet(sheet, frame, at, weights=weights, styles_dir=styles_dir))), soft_wrap=True)
        return
    if frame is not None or at is not None:
        err.print("[bold red]error:[/] --frame and --at choose the frame of a --sheet")
        raise typer.Exit(1)
    with errors_handled(debug):
        out.print(styles_table(styles_dir))


def styles_table(styles_dir: Path | None) -> Table:
    """Built-in styles (those without weights in this install dimmed), then the user's own."""
    from vidcolor.models.checkpoint import shipped_styles
    from vidcolor.userstyles import list_user_styles, styles_dir as user_folder

    shipped = set(shipped_styles())
    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("style", "mode", "description"):
        table.add_column(column)
    for spec in STYLES.values():
        name = f"{spec.name} (default)" if spec.name == DEFAULT_STYLE else spec.name
        if spec.name in shipped:
            table.add_row(name, spec.mode, escape(spec.description))
        else:
            table.add_row(f"[dim]{name}[/]", f"[dim]{spec.mode}[/]", f"[dim]{escape(spec.description)} (no weights in this install)[/]")
    mine = list_user_styles(styles_dir)
    for style in mine:
        table.add_row(escape(style.name), "stylize", escape(f"{style.description} (yours)"))
    table.caption = f"your styles: {user_folder(styles_dir)} (vidcolor add-style)"
    return table


@app.command()
def info(debug: Debug = False) -> None:
    """Versions, compute device and which backends can run here."""
    with errors_handled(debug):
        import av
        import cv2
        import numpy
        import torch

        from vidcolor.backends import available_backends

        rows = [
            ("vidcolor", __version__),
            ("python", platform.python_version()),
            ("torch", torch.__version__),
            ("PyAV / FFmpeg", f"{av.__version__} / libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}"),
            ("OpenCV", cv2.__version__),
            ("numpy", numpy.__version__),
            ("device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"),
        ]
        for name, why_not in available_backends().items():
            rows.append((f"backend {name}", "[green]available[/]" if why_not is None else f"[dim]unavailable: {escape(why_not)}[/]"))
        table = Table(box=None, show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(key, value)
        out.print(table)


@app.command("eval")
def evaluate(
    output: Annotated[Path, typer.Argument(help="A colourized video to score.")],
    source: Annotated[Optional[Path], typer.Option(help="The grey input it came from (flow for the warping error).")] = None,
    reference: Annotated[Optional[Path], typer.Option(help="Ground-truth colour video (PSNR, SSIM, deltaE).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
    debug: Debug = False,
) -> None:
    """Score a result: flicker (warping error), colourfulness, and fidelity to a reference."""
    with errors_handled(debug):
        from vidcolor.metrics import evaluate_videos

        scores = evaluate_videos(output, source, reference)
        if as_json:
            print(json.dumps(scores, indent=2))
            return
        table = Table(box=None, show_header=False)
        for name, value in scores.items():
            label, note = EVAL_LABELS.get(name, (name, ""))
            table.add_row(label, f"{value:.4g}" if isinstance(value, float) else str(value), note)
        out.print(table)


# `vidcolor eval` table rows: score key -> (label, how to read it); --json keeps the keys.
EVAL_LABELS = {
    "frames": ("frames", ""),
    "warping_error": ("warping error", "flicker, lower = steadier (Lai et al. 2018)"),
    "color_warping_error": ("colour warping error", "flicker of the added colour alone; 0 for grey"),
    "colorfulness": ("colourfulness", "Hasler & Süsstrunk; grey = 0, photos ~40"),
    "psnr": ("PSNR vs reference", "dB, higher = closer"),
    "ssim": ("SSIM vs reference", "1 = identical"),
    "ciede2000": ("CIEDE2000 vs reference", "colour difference, lower = closer"),
    "reference_colorfulness": ("reference colourfulness", ""),
}


def parse_size(text: str) -> tuple[int, int]:
    """"448x256" -> (height 256, width 448)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise VidcolorError(f"--size must look like WIDTHxHEIGHT, e.g. 448x256; got {text!r}") from None
    return height, width


@app.command("build-engine")
def build_engine(
    style: Annotated[Optional[str], typer.Option(help="Style or blend to compile (default: natural).")] = None,
    all_styles: Annotated[bool, typer.Option("--all", help="Compile every style that has weights here (yours too).")] = False,
    size: Annotated[str, typer.Option(help="Model input WIDTHxHEIGHT, multiples of 32 (448x256 suits 16:9 at --model-height 256).")] = "448x256",
    batch: Annotated[int, typer.Option(help="Static batch size.")] = 4,
    precision: Annotated[str, typer.Option(help="fp16 | fp32")] = "fp16",
    backend: Annotated[str, typer.Option(help="tensorrt | onnxruntime")] = "tensorrt",
    engine_dir: Annotated[Optional[Path], typer.Option(help="Engine cache folder.")] = None,
    styles_dir: StylesDir = None,
    debug: Debug = False,
) -> None:
    """Compile the generator for this machine; cached, so `run` starts fast."""
    with errors_handled(debug):
        from vidcolor.engine import build_engines
        from vidcolor.models.checkpoint import usable_styles

        if all_styles and style:
            raise VidcolorError("give --style or --all, not both")
        names = usable_styles(styles_dir) if all_styles else [resolve_style(style or DEFAULT_STYLE, None, styles_dir).name]
        height, width = parse_size(size)
        specs = [EngineSpec(name, height, width, batch, precision, backend) for name in names]
        for path in build_engines(specs, engine_dir, styles_dir):
            out.print(escape(str(path)), soft_wrap=True)


@app.command("add-style")
def add_style(
    painting: Annotated[Path, typer.Argument(help="The painting (JPEG, PNG...), at least 256 px on its short side.", show_default=False)],
    name: Annotated[str, typer.Option(help="The new style's name: lower-case letters, digits, - and _.", show_default=False)],
    photos: Annotated[Optional[Path], typer.Option(help="Required: a folder of colour photos to learn on (subfolders too; up to 300 are used).", show_default=False)] = None,
    steps: Annotated[Optional[int], typer.Option(help="Optimisation steps; default 600 (about 3 minutes on 2 CPU cores).", show_default=False)] = None,
    weights: Annotated[Optional[Path], typer.Option(help="The generator to add the style to; default: the shipped gallery.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace your style of the same name.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    styles_dir: StylesDir = None,
    debug: Debug = False,
) -> None:
    """Learn a new style from any painting, in minutes on a CPU: `vidcolor run --style NAME` then uses it."""
    with errors_handled(debug):
        from vidcolor.addstyle import AddStyleOptions
        from vidcolor.addstyle import add_style as learn_style

        chosen = {"steps": steps} if steps is not None else {}
        summary = learn_style(AddStyleOptions(painting=painting, name=name, photos=photos, styles_dir=styles_dir, weights=weights,
                                              overwrite=overwrite, quiet=quiet, **chosen))
        if not quiet:
            out.print(escape(summary.line()), soft_wrap=True)


@app.command()
def train(
    recipe: Annotated[Path, typer.Argument(help="A training recipe, e.g. train/natural.toml.")],
    steps: Annotated[Optional[int], typer.Option(help="Override the recipe's step count.")] = None,
    minutes: Annotated[Optional[float], typer.Option(help="Fit the run to this many minutes of training (at most --steps).")] = None,
    batch: Annotated[Optional[int], typer.Option(help="Override the batch size.")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="Override the training crop size in px.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto | cpu | cuda")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Where the trained weights go.")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Folder for checkpoints and logs.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed.")] = None,
    init: Annotated[Optional[Path], typer.Option(help="Start from these weights.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the run folder's last state.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    debug: Debug = False,
) -> None:
    """Train a style generator from a recipe."""
    with errors_handled(debug):
        from vidcolor.train.loop import train_from_recipe

        overrides = {
            "steps": steps, "minutes": minutes, "batch": batch, "resolution": resolution, "device": device, "threads": threads,
            "output": output, "run_dir": run_dir, "seed": seed, "init": init,
        }
        overrides = {k: v for k, v in overrides.items() if v is not None}
        path = train_from_recipe(recipe, overrides, resume=resume, quiet=quiet)
        out.print(f"weights written to {escape(str(path))}", soft_wrap=True)


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


def main() -> None:
    app(prog_name="vidcolor")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
