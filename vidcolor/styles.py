"""The styles vidcolor ships: a plain table of names, no registry magic."""
from __future__ import annotations

from dataclasses import dataclass

from vidcolor.errors import StyleError


@dataclass(frozen=True)
class StyleSpec:
    name: str  # what the user types after --style
    description: str  # one line for `vidcolor styles`
    mode: str  # "colorize": the model predicts Lab a/b, the source luma is kept; "stylize": RGB


STYLES: dict[str, StyleSpec] = {
    "natural": StyleSpec("natural", "Natural colourization: source brightness kept, colour added", "colorize"),
    "ukiyoe": StyleSpec("ukiyoe", "Colour + Japanese woodblock print look (Hokusai's Great Wave)", "stylize"),
}

DEFAULT_STYLE = "natural"


def get_style(name: str) -> StyleSpec:
    """Look a style up by name; an unknown name lists the valid ones."""
    try:
        return STYLES[name]
    except KeyError:
        valid = ", ".join(sorted(STYLES))
        raise StyleError(f"unknown style {name!r}", f"choose one of: {valid}") from None


def available_styles() -> list[str]:
    return sorted(STYLES)
