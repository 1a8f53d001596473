"""Style blends: ``--style ukiyoe:0.6,scream:0.4`` parsed, validated and checked against the weights.

A blend mixes the per-style conditional instance-norm parameters of ONE generator (Dumoulin et
al. 2017), so every blended style must live in the same weights file and share a mode (the
colorize and stylize heads predict different things).

    parse_blend("ukiyoe:0.6,scream:0.4")   -> {"ukiyoe": 0.6, "scream": 0.4}   (sums to 1)
    parse_blend("ukiyoe,scream")           -> {"ukiyoe": 0.5, "scream": 0.5}   (a plain name weighs 1)
    parse_blend("natural")                 -> {"natural": 1.0}
"""
from __future__ import annotations

import math
from pathlib import Path

from vidcolor.errors import StyleError
from vidcolor.styles import StyleSpec, get_style

EXAMPLE = "e.g. --style ukiyoe or --style ukiyoe:0.6,scream:0.4"


def parse_blend(text: str) -> dict[str, float]:
    """``NAME[:WEIGHT][,NAME[:WEIGHT]...]`` -> {name: weight}, weights positive and summing to 1.

    Names must be known styles (``get_style``), each given once, all of one mode; weights finite
    positive numbers (a plain name weighs 1). Raises StyleError naming the bad entry, with a hint.
    """
    if not text or not text.strip():
        raise StyleError("no style given", EXAMPLE)
    entries = [entry.strip() for entry in text.split(",")]
    for entry in entries:
        if _is_number(entry):  # "ukiyoe:0,6": a decimal comma splits the weight off
            raise StyleError(f"{entry!r} in {text!r} is a number, not a style", "weights take a decimal point, e.g. ukiyoe:0.6,scream:0.4")
    raw: dict[str, float] = {}
    for entry in entries:
        name, weight = _parse_entry(entry, text)
        if name in raw:
            raise StyleError(f"{name!r} appears twice in the blend {text!r}", "give each style once, with its weight")
        raw[name] = weight
    _check_modes([get_style(name) for name in raw])
    total = sum(raw.values())
    return {name: weight / total for name, weight in raw.items()}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_entry(entry: str, text: str) -> tuple[str, float]:
    if not entry:
        raise StyleError(f"empty entry in the blend {text!r}", "separate styles with single commas, " + EXAMPLE)
    name, sep, number = (part.strip() for part in entry.partition(":"))
    if not name:
        raise StyleError(f"{entry!r} has no style name", "write NAME:WEIGHT, " + EXAMPLE)
    if not sep:
        get_style(name)
        return name, 1.0
    if ":" in number:
        raise StyleError(f"{entry!r} has more than one ':'", "write NAME:WEIGHT, " + EXAMPLE)
    if not number:
        raise StyleError(f"no weight after {name + ':'!r}", f"write {name}:0.5, or {name} alone for weight 1")
    try:
        weight = float(number)
    except ValueError:
        raise StyleError(f"the weight of {name} is not a number: {number!r}", f"write a decimal number, e.g. {name}:0.5") from None
    if not math.isfinite(weight):
        raise StyleError(f"the weight of {name} must be a finite number, got {number!r}", f"e.g. {name}:0.5")
    if weight <= 0:
        raise StyleError(f"the weight of {name} must be positive, got {number}", "weights are shares above 0, e.g. ukiyoe:0.6,scream:0.4; leave a style out instead of weight 0")
    get_style(name)
    return name, weight


def _check_modes(specs: list[StyleSpec]) -> None:
    modes = {spec.mode for spec in specs}
    if len(modes) > 1:
        colour = [s.name for s in specs if s.mode == "colorize"]
        raise StyleError(
            f"{', '.join(colour)} cannot be blended with stylizing styles: the generator predicts them with different heads",
            "blend stylizing styles with each other",
        )


def resolve_style(text: str, weights: Path | None = None) -> StyleSpec:
    """The StyleSpec that ``--style text`` asks for; StyleError for a bad blend or one that cannot run.

    One style (``ukiyoe``, ``ukiyoe:1``): its entry in STYLES. A blend: a spec named by the
    normalised blend (``ukiyoe:0.6,scream:0.4``, which parse_blend reads back), of the styles'
    mode, after checking that one weights file holds every style (``blend_weights_file``).
    """
    blend = parse_blend(text)
    if not is_blend(blend):
        return get_style(next(iter(blend)))
    blend_weights_file(blend, weights)
    name = ",".join(f"{style}:{weight:.4g}" for style, weight in blend.items())
    return StyleSpec(name, "blend of " + " and ".join(blend), blend_mode(blend))


def require_single_style(text: str, weights: Path | None = None) -> str:
    """The style name ``--style text`` asks for (``ukiyoe:1`` -> ``ukiyoe``), for loading a generator.

    A valid blend (``resolve_style``) is a StyleError for now: the generator's conditional
    instance norm takes one style index; mixing the per-style parameters comes with the
    multi-style gallery generator (issue 10), which will take ``style_vector(...)`` here instead.
    """
    spec = resolve_style(text, weights)
    if is_blend(parse_blend(text)):
        raise StyleError(f"cannot run the blend {spec.name}: this version's generator cannot mix styles yet", "use one style")
    return spec.name


def is_blend(blend: dict[str, float]) -> bool:
    return len(blend) > 1


def blend_label(blend: dict[str, float]) -> str:
    """A file-name-safe name: ``ukiyoe`` for one style, ``ukiyoe60-scream40`` (percent) for a blend."""
    if not is_blend(blend):
        return next(iter(blend))
    return "-".join(f"{name}{round(100 * weight)}" for name, weight in blend.items())


def blend_mode(blend: dict[str, float]) -> str:
    """"colorize" or "stylize": the one mode of the blended styles (parse_blend checked it)."""
    return get_style(next(iter(blend))).mode


def blend_weights_file(blend: dict[str, float], weights: Path | None = None) -> Path:
    """The one weights file that holds every blended style; StyleError when there is none.

    ``weights`` (a --weights checkpoint) must hold them all; without it, the shipped file of
    each style must be the same file.
    """
    from vidcolor.models.checkpoint import read_checkpoint, shipped_weights

    if weights is not None:
        held = read_checkpoint(weights)[1]["config"]["styles"]
        missing = [name for name in blend if name not in held]
        if missing:
            raise StyleError(f"{Path(weights).name} has no style {', '.join(missing)}", f"it holds: {', '.join(held)}")
        return Path(weights)
    files = {name: shipped_weights(name) for name in blend}
    if len(set(files.values())) > 1:
        where = ", ".join(f"{name} in {path.name}" for name, path in files.items())
        raise StyleError(
            f"blends need styles of one generator, and these come from different weights files ({where})",
            "blend styles trained together (one multi-style recipe), or pass --weights with a checkpoint holding them all",
        )
    return next(iter(files.values()))


def style_vector(blend: dict[str, float], style_names: list[str]) -> list[float]:
    """The blend as one weight per conditioning slot of a generator holding ``style_names``."""
    missing = [name for name in blend if name not in style_names]
    if missing:
        raise StyleError(f"these weights have no style {', '.join(missing)}", f"they hold: {', '.join(style_names)}")
    return [blend.get(name, 0.0) for name in style_names]
