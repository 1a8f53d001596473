"""Training recipes: a TOML file per style, parsed into frozen dataclasses and validated up front.

Relative paths in a recipe are relative to the recipe file. Every problem is a RecipeError
raised before any training starts.
"""
from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from vidcolor.errors import RecipeError
from vidcolor.styles import STYLES


@dataclass(frozen=True)
class DataSpec:
    photos: tuple[Path, ...]  # folders of colour photos (inputs are their grey versions)
    val_fraction: float = 0.05  # share of photos held out (stable split by file name)
    style_dir: Path | None = None  # folder of the style paintings (StyleSpec.teacher file names; stylize styles)
    load_size: int = 192  # photos are held in memory with this short side (px)
    video_frames: tuple[Path, ...] = ()  # folders of consecutive frames (one shot each) or of .mp4 clips (temporal loss on real motion)
    video_val_fraction: float = 0.2  # share of .mp4 clips held out of training (stable split by file name)
    video_stills: tuple[Path, ...] = ()  # colorize: folders of frames or .mp4 clips (as video_frames) whose frames join the colour photos
    video_stills_every: int = 8  # every N-th frame of each video_stills shot is a training photo
    video_stills_repeat: int = 1  # each still is drawn this many times as often as a photo not in data.repeat
    degrade: float = 0.0  # share of grey inputs given random old-film degradations (grain, scratches, ...); targets stay clean
    repeat: dict[str, int] = field(default_factory=dict)  # {photo folder name: n}: its training photos are drawn n times as often


@dataclass(frozen=True)
class TrainSpec:
    steps: int = 2000  # optimizer steps
    minutes: float = 0.0  # > 0: a run sized to a time (a lent GPU): once 50 steps are timed, the steps become what fits
    # in this many minutes of training (never more than `steps`) and lr_drop_at scales with them; not deterministic
    batch: int = 8  # photos per step
    resolution: int = 128  # training crop size (px, multiple of 32)
    lr: float = 2e-4  # decoder and discriminator learning rate
    encoder_lr: float = 5e-5  # pretrained encoder learning rate
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # CPU threads for torch (0 = torch default)
    adv_start: int = 300  # step at which the adversarial loss switches on
    max_flow_px: float = 6.0  # amplitude of the random flows for the temporal loss
    sample_every: int = 200  # write a PNG sample grid every N steps
    checkpoint_every: int = 100  # save resumable state every N steps
    hint_stem_lr: float = 0.0  # > 0: the stem filters of the hint planes learn at this rate (and its luma filters stay frozen)
    lr_drop_at: int = 0  # from this step on, both generator learning rates are multiplied by lr_drop (0 = constant)
    lr_drop: float = 0.1  # the factor of lr_drop_at
    snapshot_every: int = 0  # also keep fp16 generator weights every N steps in run_dir/snapshots (0 = off), to pick from
    chroma_gain: float = 1.0  # colorize: a/b scale written into the exported weights (training runs at 1)
    ab_head: str = ""  # colorize head: "regress" | "bins"; "" = the init weights' head (regress without init)
    hint_fraction: float = 0.0  # share of photos given random true-colour hint points (> 0: the generator takes hints)
    encoder: str = "lite0"  # EfficientNet-Lite variant for a run without init: lite0 | lite2 (GPU-sized)
    temperature: float = 1.0  # bins head: annealed-mean temperature of the output in training (the temporal losses see it)
    export_temperature: float = 0.0  # bins head: temperature written into the weights (0 = train.temperature); calibrated
    vividness: float = 2 / 3  # bins head: --vividness default written into the weights (2/3 = decoding as trained); calibrated
    video_vividness: float = 0.0  # bins head: the --vividness default of video runs, in the weights' header (0 = the photo default); calibrated on clips
    hint_branch: bool = False  # bins head: add and train only the hint branch (every photo gets hints; the rest stays frozen)
    hint_null: bool = False  # hint branch: with a "like no hint" entry in its affinity (pixels unlike every hint keep their colour)
    hint_cues: bool = False  # hint branch: its affinity also weighs luma and automatic a/b differences from the hint
    hint_recolour: float = 0.0  # hint branch: share of photos whose hinted region is recoloured in the target (hints.recoloured_hints)
    hint_region_balance: float = 0.0  # hint branch: 0..1, how far a recoloured region's loss is raised to half the photo's (hints.region_weights)
    context: bool = False  # add a self-attention block at stride 32 (GeneratorConfig.context; starts as a no-op on init)
    palette: bool = False  # bins head: fit only a scene palette onto init (vidcolor.train.palette; no steps are trained)
    palette_strength: float = 0.5  # the palette's logit offset scale written into the weights; calibrated
    picture_gain: bool = False  # bins head: fit only a per-picture chroma scale onto init (vidcolor.train.gain; no steps are trained)
    picture_gain_lambda: float = 0.12  # the picture gain's colourfulness weight (dB per unit of colourfulness); calibrated
    picture_gain_mix: float = 1.0  # how much of the fitted per-picture amount is used (0: none, every picture gets the scale); calibrated
    picture_gain_scale: float = 1.0  # a global chroma scale on top of the picture gain; calibrated
    init_trunk_only: bool = False  # colorize: start from init's trunk only (its hint branch and palette are dropped, to be
    # refitted on the new trunk by a hint-branch and a palette recipe after this one)
    style_only: bool = False  # stylize: train only what stylizing styles own (their norm rows, the full-resolution
    # stages and the RGB head); everything natural colourization uses stays exactly as in init


@dataclass(frozen=True)
class LossWeights:
    color: float = 1.0  # Huber on Lab ab (natural) or L1 on RGB (styles) against the target
    color_beta: float = 0.05  # natural: Huber's quadratic zone in ab/110 units; 1 = squared error (the mean)
    saturation: float = 0.0  # natural: extra colour-loss weight on vivid target pixels (counters brown/grey)
    perceptual: float = 0.05  # L1 on ImageNet encoder features
    adversarial: float = 0.02  # hinge GAN, generator side
    style: float = 0.0  # Gram-matrix loss against the style image (stylize mode)
    temporal: float = 1.0  # ||G(warp(x)) - warp(G(x))|| under random smooth flows
    temporal_video: float = 0.0  # ||G(x_t+1) - warp(G(x_t))|| on consecutive frames of data.video_frames
    rebalance: float = 0.5  # bins head: class rebalancing mix (Zhang et al. 2016's lambda); 1 = none
    # natural, bins head: the held-out measures themselves, on the decoded colour merged with the clean
    # luma as `vidcolor run` merges it. A recipe that sets either trains at its exported decoding
    # (export_temperature, vividness, the init's palette strength), so they shape what ships.
    psnr: float = 0.0  # weight on minus the mean per-photo RGB PSNR (dB)
    colourfulness: float = 0.0  # weight on minus the mean per-photo colourfulness (Hasler & Suesstrunk, 0-255); / psnr = dB a unit is worth
    colour_match: float = 0.0  # weight on the mean per-photo |colourfulness - the truth's| (0-255); / psnr = dB a unit of mismatch costs


@dataclass(frozen=True)
class Recipe:
    path: Path  # the recipe file
    style: str  # the (first) style this recipe trains (a key of vidcolor.styles.STYLES)
    output: Path  # final fp16 weights (.safetensors)
    run_dir: Path  # resumable state, logs and sample grids (not shipped)
    data: DataSpec
    train: TrainSpec
    loss: LossWeights
    seed: int = 0
    init: Path | None = None  # start from these generator weights instead of ImageNet
    styles: tuple[str, ...] = ()  # every style trained (``style = [...]`` in the file: several stylizing styles, in turn)

    def __post_init__(self) -> None:
        if not self.styles:
            object.__setattr__(self, "styles", (self.style,))

    def to_dict(self) -> dict:
        d = asdict(self)
        return _jsonable(d)


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return str(x) if isinstance(x, Path) else x


# Flags `vidcolor train` accepts, and where each lands in the recipe.
OVERRIDES = {
    "steps": ("train", "steps"),
    "minutes": ("train", "minutes"),
    "batch": ("train", "batch"),
    "resolution": ("train", "resolution"),
    "device": ("train", "device"),
    "threads": ("train", "threads"),
    "output": (None, "output"),
    "run_dir": (None, "run_dir"),
    "seed": (None, "seed"),
    "init": (None, "init"),
}


def _section(cls, raw: dict, name: str, base: Path):
    known = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(known)
    if unknown:
        raise RecipeError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}", f"valid keys: {', '.join(known)}")
    values = {}
    for key, value in raw.items():
        kind = str(known[key].type)
        if "Path" in kind:
            value = tuple(_path(base, v) for v in value) if isinstance(value, list) else _path(base, value)
        elif kind.startswith("int") and (isinstance(value, bool) or not isinstance(value, int)):
            raise RecipeError(f"[{name}] {key} must be an integer, got {value!r}")
        elif kind.startswith("float") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise RecipeError(f"[{name}] {key} must be a number, got {value!r}")
        elif kind.startswith("bool") and not isinstance(value, bool):
            raise RecipeError(f"[{name}] {key} must be true or false, got {value!r}")
        elif kind.startswith("str") and not isinstance(value, str):
            raise RecipeError(f"[{name}] {key} must be a string, got {value!r}")
        values[key] = float(value) if kind.startswith("float") else value
    try:
        return cls(**values)
    except TypeError as exc:
        raise RecipeError(f"[{name}] is incomplete: {exc}") from None


def _path(base: Path, value) -> Path:
    if not isinstance(value, str) or not value:
        raise RecipeError(f"expected a path string, got {value!r}")
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def load_recipe(path: Path, overrides: dict | None = None) -> Recipe:
    """Parse and validate a recipe; ``overrides`` (keys of OVERRIDES) win over the file."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe not found: {path}", "pass a .toml file such as train/natural.toml")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path} is not valid TOML: {exc}") from None
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in OVERRIDES:
            raise RecipeError(f"unknown override {key!r}", f"valid: {', '.join(OVERRIDES)}")
        section, name = OVERRIDES[key]
        # paths given on the command line are relative to the current folder, not the recipe
        (raw.setdefault(section, {}) if section else raw)[name] = str(value.resolve()) if isinstance(value, Path) else value
    base = path.resolve().parent
    top = {k: v for k, v in raw.items() if k not in ("data", "train", "loss")}
    unknown = set(top) - {"style", "output", "run_dir", "seed", "init"}
    if unknown:
        raise RecipeError(f"unknown key(s) in {path.name}: {', '.join(sorted(unknown))}", "valid: style, output, run_dir, seed, init, [data], [train], [loss]")
    for key in ("style", "output", "run_dir"):
        if key not in top:
            raise RecipeError(f"{path.name} needs a top-level {key!r}")
    if "photos" not in raw.get("data", {}):
        raise RecipeError(f"{path.name} needs [data] photos = [folders]")
    styles = top["style"]
    if isinstance(styles, list):
        if not styles or not all(isinstance(x, str) for x in styles) or len(set(styles)) != len(styles):
            raise RecipeError(f"style must be a name or a list of distinct names, got {styles!r}")
    elif not isinstance(styles, str):
        raise RecipeError(f"style must be a name or a list of names, got {styles!r}")
    styles = tuple(styles) if isinstance(styles, list) else (styles,)
    recipe = Recipe(
        path=path.resolve(),
        style=styles[0],
        styles=styles,
        output=_path(base, top["output"]),
        run_dir=_path(base, top["run_dir"]),
        seed=top.get("seed", 0),
        init=_path(base, top["init"]) if top.get("init") else None,
        data=_section(DataSpec, raw.get("data", {}), "data", base),
        train=_section(TrainSpec, raw.get("train", {}), "train", base),
        loss=_section(LossWeights, raw.get("loss", {}), "loss", base),
    )
    validate(recipe)
    return recipe


def validate(r: Recipe) -> None:
    """Range and consistency checks; RecipeError naming the value and the fix."""
    for style in r.styles:
        if style not in STYLES:
            raise RecipeError(f"unknown style {style!r}", f"choose one of: {', '.join(sorted(STYLES))}")
    if len(r.styles) > 1 and any(STYLES[s].mode != "stylize" for s in r.styles):
        raise RecipeError("a recipe with several styles trains stylizing styles only", "train natural with its own recipe")
    if r.train.style_only and (STYLES[r.style].mode != "stylize" or r.init is None):
        raise RecipeError("train.style_only trains stylizing styles onto init weights", "set init and stylizing styles")
    t = r.train
    if t.init_trunk_only and (r.init is None or STYLES[r.style].mode != "colorize" or t.hint_branch or t.palette):
        raise RecipeError("train.init_trunk_only trains a colorize trunk on from init weights", "set init, and train the hint branch and the palette in their own recipes")
    if t.steps <= 0 or t.batch <= 0:
        raise RecipeError("train.steps and train.batch must be positive")
    if t.minutes < 0:
        raise RecipeError(f"train.minutes must be >= 0 (0 = run every step), got {t.minutes}")
    if t.resolution < 64 or t.resolution % 32:
        raise RecipeError(f"train.resolution must be a multiple of 32 and at least 64, got {t.resolution}")
    if r.data.load_size < t.resolution:
        raise RecipeError(f"data.load_size ({r.data.load_size}) must be at least train.resolution ({t.resolution})")
    if t.lr <= 0 or t.encoder_lr < 0:
        raise RecipeError("learning rates must be positive")
    if t.device not in ("auto", "cpu", "cuda"):
        raise RecipeError(f"train.device must be auto, cpu or cuda, got {t.device!r}")
    if not 0 <= r.data.val_fraction < 1:
        raise RecipeError(f"data.val_fraction must be in [0, 1), got {r.data.val_fraction}")
    if any(v < 0 for v in asdict(r.loss).values()):
        raise RecipeError("loss weights must be >= 0")
    if t.hint_stem_lr < 0 or (t.hint_stem_lr and t.hint_fraction == 0):
        raise RecipeError(f"train.hint_stem_lr must be >= 0 and needs train.hint_fraction > 0, got {t.hint_stem_lr}")
    if t.lr_drop_at < 0 or not 0 < t.lr_drop <= 1:
        raise RecipeError(f"train.lr_drop_at must be >= 0 and train.lr_drop in (0, 1], got {t.lr_drop_at} and {t.lr_drop}")
    if t.snapshot_every < 0:
        raise RecipeError(f"train.snapshot_every must be 0 (off) or a number of steps, got {t.snapshot_every}")
    if r.loss.color_beta <= 0:
        raise RecipeError(f"loss.color_beta must be positive, got {r.loss.color_beta}")
    if not 0 < t.chroma_gain <= 2:
        raise RecipeError(
            f"train.chroma_gain must be in (0, 2], got {t.chroma_gain}",
            "beyond 2x a squared-error colourizer's guesses land further from the truth than grey does",
        )
    if t.encoder not in ("lite0", "lite2"):
        raise RecipeError(f"train.encoder must be lite0 or lite2, got {t.encoder!r}")
    if t.ab_head not in ("", "regress", "bins"):
        raise RecipeError(f"train.ab_head must be regress or bins, got {t.ab_head!r}")
    if (t.ab_head == "bins" or t.hint_fraction > 0) and STYLES[r.style].mode != "colorize":
        raise RecipeError(f"train.ab_head and train.hint_fraction are for colorize styles; {r.style!r} stylizes")
    for name, value in (("train.hint_fraction", t.hint_fraction), ("train.hint_recolour", t.hint_recolour), ("train.hint_region_balance", t.hint_region_balance), ("data.degrade", r.data.degrade),
                        ("data.video_val_fraction", r.data.video_val_fraction)):
        if not 0 <= value <= 1:
            raise RecipeError(f"{name} must be in [0, 1], got {value}")
    if t.hint_branch and not (t.ab_head == "bins" and t.hint_fraction > 0 and r.init is not None):
        raise RecipeError("train.hint_branch trains a branch onto trained bins-head weights", "set init, ab_head = \"bins\" and hint_fraction > 0")
    if (t.hint_null or t.hint_recolour or t.hint_cues) and not t.hint_branch:
        raise RecipeError("train.hint_null, train.hint_cues and train.hint_recolour are options of the hint branch", "set train.hint_branch = true too")
    if t.hint_region_balance and not t.hint_recolour:
        raise RecipeError("train.hint_region_balance weights the recoloured regions of train.hint_recolour", "set train.hint_recolour > 0 too")
    if t.palette and (STYLES[r.style].mode != "colorize" or r.init is None):
        raise RecipeError("train.palette fits a scene palette onto trained bins-head weights", "set init and a colorize style")
    if t.picture_gain and (STYLES[r.style].mode != "colorize" or r.init is None or t.palette):
        raise RecipeError("train.picture_gain fits a per-picture chroma scale onto trained bins-head weights", "set init and a colorize style, in a recipe of its own")
    if not 0 <= t.picture_gain_lambda <= 1:
        raise RecipeError(f"train.picture_gain_lambda must be in [0, 1], got {t.picture_gain_lambda}", "0: the most accurate amount of colour; about 0.1-0.15 is calibrated")
    if not (0 <= t.picture_gain_mix <= 1 and 0 < t.picture_gain_scale <= 2):
        raise RecipeError(f"train.picture_gain_mix must be in [0, 1] and picture_gain_scale in (0, 2], got {t.picture_gain_mix} and {t.picture_gain_scale}")
    if not 0 <= t.palette_strength <= 2:
        raise RecipeError(f"train.palette_strength must be in [0, 2], got {t.palette_strength}", "0 turns the palette off; about 0.25-0.5 is calibrated")
    if not 0 < t.temperature <= 1:
        raise RecipeError(f"train.temperature must be in (0, 1], got {t.temperature}", "lower is more vivid; 1 is the mean colour")
    if not 0 <= t.vividness <= 1:
        raise RecipeError(f"train.vividness must be in [0, 1], got {t.vividness}", "0: the most likely colours; 2/3: as trained; 1: the boldest")
    if not 0 <= t.video_vividness <= 1:
        raise RecipeError(f"train.video_vividness must be in [0, 1] (0 = the photo default), got {t.video_vividness}")
    if t.video_vividness and STYLES[r.style].mode != "colorize":
        raise RecipeError("train.video_vividness is for colorize styles", "remove it from a stylize recipe")
    if not 0 <= t.export_temperature <= 1:
        raise RecipeError(f"train.export_temperature must be in [0, 1] (0 = train.temperature), got {t.export_temperature}")
    if (r.loss.psnr or r.loss.colourfulness or r.loss.colour_match) and not (STYLES[r.style].mode == "colorize" and t.ab_head == "bins" and not t.hint_branch):
        raise RecipeError("loss.psnr, loss.colourfulness and loss.colour_match score the decoded colour of a bins head", "set train.ab_head = \"bins\" on a colorize style (not a hint-branch recipe)")
    if not 0 < r.loss.rebalance <= 1:
        raise RecipeError(f"loss.rebalance must be in (0, 1], got {r.loss.rebalance}", "0.5 as in Zhang et al. 2016; 1 turns rebalancing off")
    if r.data.video_stills_every < 1 or r.data.video_stills_repeat < 1:
        raise RecipeError(f"data.video_stills_every and data.video_stills_repeat must be at least 1, got {r.data.video_stills_every} and {r.data.video_stills_repeat}")
    if r.data.video_stills and any(STYLES[s].mode != "colorize" for s in r.styles):
        raise RecipeError("data.video_stills are colour targets for colorize styles", "remove them from a stylize recipe")
    for entry in r.data.video_stills:
        if not entry.exists():
            raise RecipeError(f"data.video_stills entry not found: {entry}", "fix the path (relative paths are relative to the recipe file)")
    from vidcolor.train.teacher import style_source

    for style in r.styles:
        if STYLES[style].mode == "stylize":
            style_source(STYLES[style].teacher, r.data.style_dir)  # RecipeError if the painting is missing
    folders = {p.name for p in r.data.photos}
    for name, n in r.data.repeat.items():
        if name not in folders:
            raise RecipeError(f"[data] repeat names {name!r}, which is not one of the photo folders", f"use a folder name from data.photos: {', '.join(sorted(folders))}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise RecipeError(f"[data] repeat.{name} must be a whole number of at least 1, got {n!r}")
    if r.loss.temporal_video > 0 and not r.data.video_frames:
        raise RecipeError("loss.temporal_video needs data.video_frames (folders of consecutive frames)")
    if r.init is not None and not r.init.is_file():
        raise RecipeError(
            f"init weights not found: {r.init}",
            "train the recipe that writes them first (train/natural.toml before train/natural_refine.toml)",
        )
    if r.output.suffix != ".safetensors":
        raise RecipeError(f"output must end in .safetensors, got {r.output.name}")
