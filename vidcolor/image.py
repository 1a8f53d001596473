"""`run_image`: a photograph through the same model, merge and safety rules as a film.

    read_image -> luma at the model size -> backend -> merge_natural / merge_stylized -> RGB -> file

The photo is read with Pillow (16-bit colour with OpenCV: Pillow holds it as 8-bit only), its EXIF
orientation applied to the pixels, colour turned into BT.709 luma (the luma the model is trained
on), and everything is checked before a model is loaded. The result has the input's size, format
and bit depth (formats that cannot hold 16 bits get 8), and keeps its EXIF (orientation reset to
1) and ICC profile where the format allows. It is written to a hidden temporary file beside the
target and renamed over it only when complete; the input is never touched.
"""
from __future__ import annotations

import io
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from vidcolor.files import write_atomically
from PIL import Image, ImageCms, UnidentifiedImageError

from vidcolor.backends.base import default_threads
from vidcolor.borders import black_threshold, detect_border, keep_border_black
from vidcolor.color import fit_chroma_to_gamut, model_size, normalize_luma, quantize_luma, rgb_to_luma, to_model_input, ycbcr_to_rgb
from vidcolor.errors import InputError, OutputError, VidcolorError
from vidcolor.options import RunOptions
from vidcolor.hints import check_hints
from vidcolor.reference import check_references
from vidcolor.pipeline import _load_backend, check_output_path, convert_depth, merge_natural, merge_stylized, torch_threads
from vidcolor.blend import check_strength, resolve_style
from vidcolor.styles import StyleSpec
from vidcolor.video.writer import PlaneFormat

# Output extension -> Pillow format name. The format follows the output's extension, as the
# container does for video; by default that is the input's own extension.
IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP", ".gif": "GIF"}
_READABLE = {"JPEG", "MPO", "PNG", "TIFF", "WEBP", "GIF"}  # MPO: phone JPEGs with a preview picture inside
_DEEP = {"PNG", "TIFF"}  # formats that hold 16 bits per sample
_ALPHA = {"PNG", "TIFF", "WEBP"}  # formats that hold an alpha channel
_ORIENTATION = 0x0112  # EXIF tag
# TIFF tags that describe the file's own layout: Pillow lists them with the EXIF of a TIFF, but
# copied into a new file they would describe the old one's strips and samples.
_TIFF_LAYOUT = {254, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 338, 339, 530, 532, 34675}


@dataclass(frozen=True)
class Picture:
    """A decoded photo, ready for the model."""

    luma: np.ndarray  # (H, W) uint8/uint16 full-range BT.709 luma code values, orientation applied
    alpha: np.ndarray | None  # (H, W) like luma, or None when the photo has no transparency
    bit_depth: int  # 8 or 16 bits per sample
    exif: bytes | None  # the source's EXIF with the orientation reset to 1; None when it has none
    icc_profile: bytes | None  # the source's ICC profile (None for CMYK: the pixels are now RGB)
    warnings: tuple[str, ...] = ()  # what was changed on the way in (CMYK, palette...)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in px."""
        return self.luma.shape[1], self.luma.shape[0]


@dataclass(frozen=True)
class ImagePlan:
    """How the result is written."""

    format: str  # Pillow format name, from the output extension
    bit_depth: int  # 8 or 16
    alpha: bool  # write the source's alpha channel
    exif: bytes | None  # EXIF to write (None where the format or writer cannot)
    icc_profile: bytes | None  # ICC profile to write (likewise)
    warnings: tuple[str, ...] = ()  # what the output format could not keep


@dataclass(frozen=True)
class ImageSummary:
    input: Path  # the source photo
    output: Path  # the finished file
    style: str  # style name used
    backend: str  # backend that ran the model
    seconds: float  # wall time from model input to renamed file
    size: tuple[int, int]  # (width, height) of the output
    model_size: tuple[int, int]  # (height, width) the model ran at
    warnings: tuple[str, ...] = ()  # things the user should know (metadata not kept, CMYK...)

    def line(self) -> str:
        """One line for the terminal: size, time, where the result is."""
        return f"{self.size[0]}x{self.size[1]} image in {self.seconds:.1f} s -> {self.output}"


def is_image_path(path: Path) -> bool:
    """True when the extension is one of IMAGE_FORMATS (what the file holds is checked on reading)."""
    return Path(path).suffix.lower() in IMAGE_FORMATS


def run_image(options: RunOptions, backend=None) -> ImageSummary:
    """Colourize or stylize the photo ``options.input`` into ``options.output``; see the module docstring.

    ``backend`` (anything with ``infer`` (1,1,h,w) -> (1,C,h,w)) is loaded from the options when
    not given; a given backend is not closed here. ``options.batch``, ``temporal`` and ``encode``
    are video settings and are not used.
    """
    style, picture, plan = validate_image(options)
    width, height = picture.size
    size = model_size(height, width, options.model_height)
    with ExitStack() as stack:
        stack.enter_context(torch_threads(default_threads()))
        if backend is None:
            backend = stack.enter_context(_load_backend(replace(options, batch=1), style, size, (height, width), video=False))
        start = time.perf_counter()
        luma = to_model_input(picture.luma, size, picture.bit_depth, full_range=True)
        output = backend.infer(luma[None, None])[0]
        rgb = colour_picture(picture, luma, output, style, plan.bit_depth, options.black_borders)
        alpha = convert_depth(picture.alpha, picture.bit_depth, plan.bit_depth) if plan.alpha else None
        write_atomically(options.output, encode_image(rgb, alpha, plan))
        seconds = time.perf_counter() - start
    return ImageSummary(
        input=options.input, output=options.output, style=style.name, backend=getattr(backend, "name", type(backend).__name__),
        seconds=seconds, size=picture.size, model_size=size, warnings=picture.warnings + plan.warnings,
    )


def validate_image(options: RunOptions) -> tuple[StyleSpec, Picture, ImagePlan]:
    """Check the options, read the photo and plan the output; raises a VidcolorError. Creates nothing."""
    style = resolve_style(options.style, options.weights, options.styles_dir)  # a style, or a blend of styles of one generator
    check_strength(options.strength, style)
    if options.model_height <= 0 or options.model_height % 32:
        raise VidcolorError(f"--model-height must be a positive multiple of 32, got {options.model_height}")
    source, target = Path(options.input), Path(options.output)
    picture = read_image(source)  # input problems first: they are the likelier mistake
    check_hints(options.hints, style, options.weights, *picture.size, options.styles_dir)
    check_references(options.references, style, options.weights, *picture.size, options.styles_dir)
    if target.resolve() == source.resolve() or (target.exists() and os.path.samefile(source, target)):
        raise OutputError(f"the output would overwrite the input: {target}", "choose another --output")
    check_output_path(target, options.overwrite)
    return style, picture, plan_image_output(picture, target)


# ------------------------------------------------------------------ reading


def read_image(path: Path) -> Picture:
    """Decode ``path`` into full-range luma (+ alpha), orientation applied. InputError for anything unusable."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}", "check the path")
    if not path.is_file():
        raise InputError(f"input is not a file: {path}", "give the path of an image or video file")
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise InputError(f"not an image vidcolor can read: {path}", "give a JPEG, PNG, TIFF or WebP file") from None
    except Image.DecompressionBombError as e:  # Pillow's guard against images made to exhaust memory
        raise InputError(f"image too large to open safely: {path} ({e})", "split or shrink it first") from None
    except OSError as e:  # Pillow knew the format, then the data ran out or made no sense
        raise _damaged(path, e.strerror or e) from None
    with image:
        _check_one_picture(image, path)
        # before anything loads the pixels (getexif does, for PNG): the tile says how they are stored
        deep_colour = image.mode in ("RGB", "RGBA") and any(";16" in str(tile.args) for tile in image.tile)
        try:
            exif = image.getexif()
            orientation = exif.get(_ORIENTATION, 1)
            image.load()
            channels, bit_depth, notes = _pixels(image, path, deep_colour)
        except (OSError, SyntaxError, ValueError) as e:  # Pillow's errors for truncated or damaged data
            raise _damaged(path, e) from None
        icc = image.info.get("icc_profile") or None
        if image.mode == "CMYK":
            icc = None  # the profile describes ink, not the RGB pixels we now have
        exif_bytes = _exif_bytes(exif, image.format) if len(exif) else None
    channels = apply_orientation(channels, orientation if orientation in range(1, 9) else 1)
    luma, alpha = split_luma(channels, bit_depth)
    return Picture(luma, alpha, bit_depth, exif_bytes, icc, tuple(notes))


def _damaged(path: Path, reason: object) -> InputError:
    return InputError(f"damaged or truncated image: {path} ({reason})", "check that the file is complete")


def _check_one_picture(image: Image.Image, path: Path) -> None:
    """InputError for formats vidcolor does not read, and for animated or multi-page files."""
    if image.format not in _READABLE:
        raise InputError(f"{image.format} images are not supported: {path}", "convert it to PNG or TIFF first")
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and image.format != "MPO":  # MPO: the second picture is the camera's preview
        raise InputError(
            f"{path.name} holds {frames} pictures (animated or multi-page): vidcolor colours one picture per image",
            f"to colour it as a film, give a video output: -o {path.stem}.natural.mkv" if image.format in ("GIF", "WEBP", "PNG")
            else "save the page you want as its own file")


def _pixels(image: Image.Image, path: Path, deep_colour: bool) -> tuple[np.ndarray, int, list[str]]:
    """(H, W, C) array with C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; bits per sample (8 or 16); notes."""
    mode, notes = image.mode, []
    if deep_colour:  # Pillow keeps only the top 8 bits of 16-bit colour
        bgr = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
        if bgr is None or bgr.dtype != np.uint16:
            raise ValueError("OpenCV could not decode its 16-bit colour")
        return (bgr[..., [2, 1, 0, 3]] if bgr.shape[2] == 4 else bgr[..., ::-1]), 16, notes
    if mode.startswith("I;16") or mode == "I":
        return np.clip(np.asarray(image), 0, 65535).astype(np.uint16)[..., None], 16, notes
    if mode == "F":
        raise InputError(f"32-bit floating-point images are not supported: {path}", "save it as 16-bit PNG or TIFF first")
    if mode == "CMYK":
        notes.append("CMYK image: converted to RGB (written without its CMYK colour profile)")
        profile = image.info.get("icc_profile")
        if profile:
            srgb = ImageCms.createProfile("sRGB")
            image = ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), srgb, outputMode="RGB")
        else:
            image = image.convert("RGB")
    elif mode in ("P", "PA"):
        image = image.convert("RGBA" if mode == "PA" or "transparency" in image.info else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in mode else "RGB")
    array = np.asarray(image)
    return (array[..., None] if array.ndim == 2 else array), 8, notes


def _exif_bytes(exif: Image.Exif, source_format: str) -> bytes:
    """The source's EXIF with the orientation reset to 1 (the pixels are turned instead)."""
    if source_format == "TIFF":
        for tag in _TIFF_LAYOUT & set(exif):
            del exif[tag]
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    return exif.tobytes()


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn or mirror (H, W, ...) pixels as EXIF orientation 1..8 says a viewer should; a new array."""
    turned = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }[orientation](pixels)
    return np.ascontiguousarray(turned)


def split_luma(channels: np.ndarray, bit_depth: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, C) grey/grey+alpha/RGB/RGBA codes -> full-range BT.709 luma (H, W) and alpha (H, W) or None.

    Grey is taken as it is; colour is made grey with the model's own luma (vidcolor.color.rgb_to_luma).
    """
    c = channels.shape[2]
    alpha = channels[..., -1].copy() if c in (2, 4) else None
    if c <= 2:
        return channels[..., 0].copy(), alpha
    rgb = channels[..., :3]
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():  # a grey photo stored as RGB
        return rgb[..., 0].copy(), alpha
    top = float((1 << bit_depth) - 1)
    rgb_float = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / top)
    return quantize_luma(rgb_to_luma(rgb_float)[0].numpy(), bit_depth, full_range=True), alpha


# ------------------------------------------------------------------ colour


def colour_picture(picture: Picture, luma: np.ndarray, output: np.ndarray, style: StyleSpec, bit_depth: int,
                   black_borders: bool = True) -> np.ndarray:
    """Model output (C, h, w) for model-size luma (h, w) -> RGB (H, W, 3) uint8/uint16 at ``bit_depth``.

    The same merges as video, into full-resolution 4:4:4 full-range planes: natural keeps the
    photo's luma exactly and adds the colour; styles bring back the photo's fine detail. With
    ``black_borders`` the photo's black edges stay as they were, as a film's bars do.
    """
    width, height = picture.size
    fmt = PlaneFormat("yuv444p", width, height, width, height, bit_depth, "bt709", True)
    merge = merge_natural if style.mode == "colorize" else merge_stylized
    planes = merge(picture.luma, luma, output, fmt, picture.bit_depth)
    if black_borders:
        border = detect_border(picture.luma, black_threshold(picture.bit_depth, full_range=True))
        planes = keep_border_black(planes, convert_depth(picture.luma, picture.bit_depth, bit_depth), border, bit_depth)
    return planes_to_rgb(*planes, bit_depth)


def planes_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, bit_depth: int = 8, full_range: bool = True, matrix: str = "bt709") -> np.ndarray:
    """Y, Cb, Cr code-value planes, all (H, W) -> gamma-encoded RGB (H, W, 3) code values at the same depth."""
    top = (1 << bit_depth) - 1
    chroma_span = top if full_range else 224 << (bit_depth - 8)  # inverse of color.quantize_chroma
    centre = 1 << (bit_depth - 1)
    ycc = np.stack([
        normalize_luma(y, bit_depth, full_range),
        (cb.astype(np.float32) - centre) / chroma_span,
        (cr.astype(np.float32) - centre) / chroma_span,
    ])
    ycc = torch.from_numpy(ycc)
    # Full-resolution luma has detail the model-size gamut fit did not see: fit again, so that
    # RGB, which cannot hold what a display clips, keeps the luma the photo had.
    cbcr = fit_chroma_to_gamut(ycc[:1], ycc[1:], matrix)
    rgb = ycbcr_to_rgb(torch.cat([ycc[:1], cbcr]), matrix).numpy()
    return np.clip(np.rint(rgb * top), 0, top).astype(np.uint8 if bit_depth == 8 else np.uint16).transpose(1, 2, 0)


# ------------------------------------------------------------------ writing


def plan_image_output(picture: Picture, target: Path) -> ImagePlan:
    """What the target's format can keep of the photo; OutputError for an extension vidcolor does not write."""
    try:
        fmt = IMAGE_FORMATS[Path(target).suffix.lower()]
    except KeyError:
        raise OutputError(
            f"cannot write a {Path(target).suffix or 'file without extension'} image: {target}",
            "end the output name with one of " + ", ".join(IMAGE_FORMATS),
        ) from None
    warnings = []
    depth = picture.bit_depth if fmt in _DEEP else 8
    if depth < picture.bit_depth:
        warnings.append(f"{fmt} holds 8 bits per sample: the 16-bit photo is written as 8-bit")
    alpha = picture.alpha is not None and fmt in _ALPHA
    if picture.alpha is not None and not alpha:
        warnings.append(f"{fmt} has no alpha channel: the transparency is dropped")
    keeps_metadata = fmt in ("JPEG", "PNG", "WEBP") or (fmt == "TIFF" and depth == 8)
    exif, icc = (picture.exif, picture.icc_profile) if keeps_metadata else (None, None)
    if not keeps_metadata and (picture.exif or picture.icc_profile):
        kind = "16-bit TIFF" if fmt == "TIFF" else fmt
        warnings.append(f"the {kind} writer cannot keep EXIF or the ICC profile: they are dropped")
    return ImagePlan(fmt, depth, alpha, exif, icc, tuple(warnings))


def encode_image(rgb: np.ndarray, alpha: np.ndarray | None, plan: ImagePlan) -> bytes:
    """RGB (H, W, 3) and alpha (H, W) or None, uint8/uint16 at ``plan.bit_depth`` -> the file's bytes."""
    pixels = rgb if alpha is None else np.dstack([rgb, alpha])
    if plan.bit_depth > 8:  # Pillow has no 16-bit colour mode; OpenCV writes PNG and TIFF at 16 bits
        bgr = pixels[..., [2, 1, 0, 3]] if alpha is not None else pixels[..., ::-1]
        ext = ".png" if plan.format == "PNG" else ".tif"
        kinds = [(cv2.IMAGE_METADATA_EXIF, plan.exif), (cv2.IMAGE_METADATA_ICCP, plan.icc_profile)]
        kinds = [(kind, np.frombuffer(data, np.uint8)) for kind, data in kinds if data]
        if kinds:
            ok, buffer = cv2.imencodeWithMetadata(ext, np.ascontiguousarray(bgr), [k for k, _ in kinds], [d for _, d in kinds])
        else:
            ok, buffer = cv2.imencode(ext, np.ascontiguousarray(bgr))
        if not ok:
            raise OutputError(f"OpenCV could not encode a 16-bit {plan.format}", "write an 8-bit format such as .jpg")
        return buffer.tobytes()
    image = Image.fromarray(pixels, "RGBA" if alpha is not None else "RGB")
    params: dict = {"exif": plan.exif, "icc_profile": plan.icc_profile}
    if plan.format in ("JPEG", "WEBP"):
        params["quality"] = 95
    elif plan.format == "TIFF":
        params["compression"] = "tiff_deflate"
    elif plan.format == "GIF":  # 256 colours at most: an adaptive palette
        image, params = image.convert("RGB").quantize(256), {}
    buffer = io.BytesIO()
    image.save(buffer, plan.format, **{k: v for k, v in params.items() if v is not None})
    return buffer.getvalue()


