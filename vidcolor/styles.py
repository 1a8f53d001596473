"""The styles vidcolor ships: a plain table of names, no registry magic."""
from __future__ import annotations

from dataclasses import dataclass

from vidcolor.errors import StyleError


@dataclass(frozen=True)
class StyleSpec:
    name: str  # what the user types after --style
    description: str  # one line for `vidcolor styles`
    mode: str  # "colorize": the model predicts Lab a/b, the source luma is kept; "stylize": RGB
    teacher: str = ""  # stylize: where training targets come from: a painting's file name (looked up in the
    # recipe's data.style_dir) for the arbitrary-style teacher, or "builtin:N" for its N-th built-in style


STYLES: dict[str, StyleSpec] = {
    "natural": StyleSpec("natural", "Natural colourization: source brightness kept, colour added", "colorize"),
    "ukiyoe": StyleSpec("ukiyoe", "Colour + Japanese woodblock print look (Hokusai's Great Wave)", "stylize", "wave.jpg"),
    "expressionist": StyleSpec("expressionist", "Swirling orange and blue bands, heavy outlines (Munch's The Scream)", "stylize", "the_scream.jpg"),
    "storm": StyleSpec("storm", "Stormy golden haze and churning brushwork (Turner's Shipwreck of the Minotaur)", "stylize",
                       "the_shipwreck_of_the_minotaur.jpg"),
    "cubist": StyleSpec("cubist", "Broken planes in grey, ochre and blue (Picabia's Udnie)", "stylize", "udnie.jpg"),
    "starry": StyleSpec("starry", "Swirling blue and gold brushstrokes, a starry-night look", "stylize", "builtin:19"),
    "pastel": StyleSpec("pastel", "Soft pink and cyan chalk-pastel strokes", "stylize", "builtin:8"),
    "pointillist": StyleSpec("pointillist", "Dabs of blue and orange paint, pointillist", "stylize", "builtin:16"),
    "engraving": StyleSpec("engraving", "Dense blue-brown hatching, like an engraving", "stylize", "builtin:25"),
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
