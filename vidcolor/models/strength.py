"""The module a run exports for a style, a blend, or either at a --strength below 1.

    style_module(generator, {"ukiyoe": 1.0})                  -> generator.for_style("ukiyoe")
    style_module(generator, {"ukiyoe": 0.6, "starry": 0.4})   -> generator.for_blend(...): the weights mix the norm rows
    style_module(generator, {"ukiyoe": 1.0}, strength=0.5)    -> StrengthGenerator

``StrengthGenerator`` runs the style and the generator's own natural colourization from ONE
encoder pass (the decoder runs twice on its features) and lerps the two sRGB pictures. Blend
weights and strength are buffers: constants of an exported ONNX graph or TensorRT engine, part
of the weights digest that keys the engine cache, and moved to the GPU with the module (a CUDA
graph capture may not copy from host memory).
"""
from __future__ import annotations

import torch
from torch import nn

from vidcolor.color import luma_ab_to_rgb
from vidcolor.models.generator import EDGE_PAD, Generator, reflect_top_left


def style_module(generator: Generator, blend: dict[str, float], strength: float = 1.0) -> nn.Module:
    """(N, 1, H, W) luma -> the style's output: Lab a/b (N, 2, H, W) or RGB (N, 3, H, W); with
    ``strength`` < 1 always RGB (``StrengthGenerator``). ``blend``: {style: weight}, weights summing to 1."""
    if strength < 1.0:
        return StrengthGenerator(generator, generator.blend_weights(blend), natural_slot(generator), strength)
    return generator.for_blend(blend)


def natural_slot(generator: Generator) -> int:
    """The slot of the generator's colourizing style (natural); StyleError when it has none."""
    if "colorize" not in generator.style_modes:
        from vidcolor.errors import StyleError

        raise StyleError(f"--strength needs the natural colourization in the same weights, and these hold only {', '.join(generator.style_names)}",
                         "use weights that hold natural too (the shipped gallery does), or leave --strength out")
    return generator.style_modes.index("colorize")


class StrengthGenerator(nn.Module):
    """(N, 1, H, W) luma [0,1] -> (N, 3, H, W) sRGB [0,1]: (1 - s) * natural + s * styled.

    ``style_weights`` (num_styles,): the stylizing style or blend; ``natural``: the slot of the
    colourizing style; ``strength`` s in [0, 1]. natural is the colourization as sRGB at model
    resolution (the model-size luma with the predicted a/b, ``luma_ab_to_rgb``)."""

    def __init__(self, generator: Generator, style_weights: torch.Tensor, natural: int, strength: float) -> None:
        super().__init__()
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        self.generator = generator
        self.register_buffer("style_weights", style_weights.float().clone())
        self.register_buffer("natural_weights", generator.blend_weights({generator.style_names[natural]: 1.0}))
        self.register_buffer("strength", torch.tensor(float(strength)))
        self.mode, self.out_channels = "stylize", 3
        self.train(generator.training)

    def forward(self, luma: torch.Tensor) -> torch.Tensor:
        gen = self.generator
        luma = reflect_top_left(luma)  # as a painting style reads its input (generator.EDGE_PAD)
        features = gen.encode(luma, None)  # one encoder pass for both
        styled = gen(luma, self.style_weights, features=features, mode="stylize")
        natural = luma_ab_to_rgb(luma, gen(luma, self.natural_weights, features=features, mode="colorize"))
        return (natural + self.strength * (styled - natural))[..., EDGE_PAD:, EDGE_PAD:]
