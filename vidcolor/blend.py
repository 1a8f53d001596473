"""Style blends: ``--style ukiyoe:0.6,starry:0.4`` parsed, validated and checked against the weights.

A blend mixes the per-style conditional instance-norm parameters of ONE generator (Dumoulin et
al. 2017), so every blended style must live in the same weights file and share a mode (the
colorize and stylize heads predict different things). A name is a built-in style
(vidcolor.styles.STYLES) or a user style (vidcolor.userstyles), which lives on the generator it
was learnt on.

    parse_blend("ukiyoe:0.6,starry:0.4")   -> {"ukiyoe": 0.6, "starry": 0.4}   (sums to 1)
    parse_blend("ukiyoe,starry")           -> {"ukiyoe": 0.5, "starry": 0.5}   (a plain name weighs 1)
    parse_blend("natural")                 -> {"natural": 1.0}

``--strength s`` (``check_strength``) runs a stylizing style or blend at s in [0, 1] against the
same generator's natural colourization (vidcolor.models.strength).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from vidcolor.errors import StyleError
from vidcolor.styles import STYLES, StyleSpec

EXAMPLE = "e.g. --style ukiyoe or --style ukiyoe:0.6,starry:0.4"
COLORIZE = "colorize"


def lookup_style(name: str, styles_dir: Path | None = None) -> StyleSpec:
    """The built-in style ``name``, or the user style of that name in ``styles_dir`` (default:
    vidcolor.userstyles.styles_dir()); StyleError listing both kinds when there is neither."""
    if name in STYLES:
        return STYLES[name]
    from vidcolor.userstyles import find_user_style, list_user_styles

    user = find_user_style(name, styles_dir)
    if user is not None:
        return StyleSpec(name, user.description, "stylize", user.painting)
    hint = f"choose one of: {', '.join(sorted(STYLES))}"
    mine = [style.name for style in list_user_styles(styles_dir)]
    raise StyleError(f"unknown style {name!r}", hint + (f"; your styles: {', '.join(mine)}" if mine else ""))


def parse_blend(text: str, styles_dir: Path | None = None) -> dict[str, float]:
    """``NAME[:WEIGHT][,NAME[:WEIGHT]...]`` -> {name: weight}, weights positive and summing to 1.

    Names must be known styles (``lookup_style``), each given once, all of one mode; weights finite
    positive numbers (a plain name weighs 1). Raises StyleError naming the bad entry, with a hint.
    """
    if not text or not text.strip():
        raise StyleError("no style given", EXAMPLE)
    entries = [entry.strip() for entry in text.split(",")]
    for entry in entries:
        if _is_number(entry):  # "ukiyoe:0,6": a decimal comma splits the weight off
            raise StyleError(f"{entry!r} in {text!r} is a number, not a style", "weights take a decimal point, e.g. ukiyoe:0.6,starry:0.4")
    raw: dict[str, float] = {}
    for entry in entries:
        name, weight = _parse_entry(entry, text)
        lookup_style(name, styles_dir)
        if name in raw:
            raise StyleError(f"{name!r} appears twice in the blend {text!r}", "give each style once, with its weight")
        raw[name] = weight
    _check_modes([lookup_style(name, styles_dir) for name in raw])
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
        raise StyleError(f"the weight of {name} must be positive, got {number}", "weights are shares above 0, e.g. ukiyoe:0.6,starry:0.4; leave a style out instead of weight 0")
    return name, weight


def _check_modes(specs: list[StyleSpec]) -> None:
    modes = {spec.mode for spec in specs}
    if len(modes) > 1:
        colour = [s.name for s in specs if s.mode == "colorize"]
        raise StyleError(
            f"{', '.join(colour)} cannot be blended with stylizing styles: the generator predicts them with different heads",
            "blend stylizing styles with each other",
        )


def resolve_style(text: str, weights: Path | None = None, styles_dir: Path | None = None) -> StyleSpec:
    """The StyleSpec that ``--style text`` asks for; StyleError for a bad blend or one that cannot run.

    One style (``ukiyoe``, ``ukiyoe:1``, a user style): its spec. A blend: a spec named by the
    normalised blend (``ukiyoe:0.6,starry:0.4``, which parse_blend reads back), of the styles'
    mode, after checking that one weights file holds every style (``blend_weights_file``).
    """
    blend = parse_blend(text, styles_dir)
    if not is_blend(blend):
        return lookup_style(next(iter(blend)), styles_dir)
    blend_weights_file(blend, weights, styles_dir)
    return StyleSpec(blend_name(blend), "blend of " + " and ".join(blend), blend_mode(blend, styles_dir))


def blend_name(blend: dict[str, float]) -> str:
    """The normalised text of a blend: ``ukiyoe`` for one style, ``ukiyoe:0.6,starry:0.4`` (4
    significant digits) for several; parse_blend reads it back."""
    if not is_blend(blend):
        return next(iter(blend))
    return ",".join(f"{style}:{weight:.4g}" for style, weight in blend.items())


def is_blend(blend: dict[str, float]) -> bool:
    return len(blend) > 1


def blend_label(blend: dict[str, float]) -> str:
    """A file-name-safe name: ``ukiyoe`` for one style, ``ukiyoe60-starry40`` (percent) for a blend."""
    if not is_blend(blend):
        return next(iter(blend))
    return "-".join(f"{name}{round(100 * weight)}" for name, weight in blend.items())


def style_names(styles_dir: Path | None = None) -> set[str]:
    """Every style name known here: the built-in table's and the user's own."""
    from vidcolor.userstyles import list_user_styles

    return set(STYLES) | {style.name for style in list_user_styles(styles_dir)}


def is_output_label(label: str, names: set[str]) -> bool:
    """Whether ``label`` is what vidcolor.cli.default_output puts between a result's stem and its
    extension: a style of ``names`` (``natural``), a blend (``ukiyoe60-starry40``), either with a
    strength (``ukiyoe-s50``). A name with a '-' in it counts on its own only."""
    label = re.sub(r"-s\d{1,3}$", "", label)
    if label in names:
        return True
    shares = [re.fullmatch(r"(.+?)(\d{1,3})", part) for part in label.split("-")]
    return len(shares) > 1 and all(m is not None and m.group(1) in names for m in shares)


def blend_mode(blend: dict[str, float], styles_dir: Path | None = None) -> str:
    """"colorize" or "stylize": the one mode of the blended styles (parse_blend checked it)."""
    return lookup_style(next(iter(blend)), styles_dir).mode


def blend_weights_file(blend: dict[str, float], weights: Path | None = None, styles_dir: Path | None = None) -> Path:
    """The one generator file that holds every blended style; StyleError when there is none.

    ``weights`` (a --weights checkpoint) must hold every built-in style of the blend and be the
    base of every user style in it. Without it: the shipped file that holds all the built-in
    styles, which must be the base of the user styles (found by checksum) when there are any.
    """
    from vidcolor.models.checkpoint import header_styles, read_header, shipped_file_holding
    from vidcolor.userstyles import base_weights

    builtin = [name for name in blend if name in STYLES]
    user = [_user_style(name, styles_dir) for name in blend if name not in STYLES]
    if weights is not None:
        held = header_styles(weights)
        missing = [name for name in builtin if name not in held]
        if missing:
            raise StyleError(f"{Path(weights).name} has no style {', '.join(missing)}", f"it holds: {', '.join(held)}")
        sha = read_header(weights).get("sha256")
        for style in user:
            if style.base_sha256 != sha:
                raise StyleError(f"style {style.name!r} was learnt on other weights ({style.base_file}) than {Path(weights).name}",
                                 "leave --weights out to use the weights it was learnt on, or learn it again on these with vidcolor add-style")
        return Path(weights)
    if user:
        bases = {style.name: base_weights(style) for style in user}
        path = next(iter(bases.values()))
        held = header_styles(path)
        if len(set(bases.values())) > 1 or not set(builtin) <= set(held):
            where = ", ".join([f"{n} on {p.name}" for n, p in bases.items()] + [f"{n} in {_shipped_name(n)}" for n in builtin if n not in held])
            raise StyleError(f"blends need styles of one generator, and these come from different weights files ({where})",
                             "blend your styles with the built-in styles of the gallery they were learnt on")
        return path
    path = shipped_file_holding(builtin)
    if path is None:
        where = ", ".join(f"{name} in {_shipped_name(name)}" for name in builtin)
        raise StyleError(
            f"blends need styles of one generator, and these come from different weights files ({where})",
            "blend styles trained together (one multi-style recipe), or pass --weights with a checkpoint holding them all",
        )
    return path


def _user_style(name: str, styles_dir: Path | None):
    """The user style ``name``; StyleError (lookup_style's, listing the styles) when there is none."""
    from vidcolor.userstyles import find_user_style

    style = find_user_style(name, styles_dir)
    if style is None:
        lookup_style(name, styles_dir)  # not built-in either (the caller checked): raises
    return style


def _shipped_name(style: str) -> str:
    from vidcolor.models.checkpoint import shipped_weights

    return shipped_weights(style).name


def style_vector(blend: dict[str, float], style_names: list[str]) -> list[float]:
    """The blend as one weight per conditioning slot of a generator holding ``style_names``."""
    missing = [name for name in blend if name not in style_names]
    if missing:
        raise StyleError(f"these weights have no style {', '.join(missing)}", f"they hold: {', '.join(style_names)}")
    return [blend.get(name, 0.0) for name in style_names]


def check_strength(strength: float, style: StyleSpec) -> None:
    """StyleError unless ``strength`` is in [0, 1] and, below 1, ``style`` is a stylizing style or
    blend (strength runs from the natural colourization to the style)."""
    if not 0.0 <= strength <= 1.0:
        raise StyleError(f"--strength must be between 0 and 1, got {strength}", "1 is the full style, 0 the natural colourization")
    if strength < 1.0 and style.mode == COLORIZE:
        raise StyleError(f"--strength is for painting styles; {style.name!r} is the colourization itself",
                         "leave --strength out, or give a painting style, e.g. --style ukiyoe --strength 0.5")
