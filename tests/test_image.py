"""Photos in, photos out: each format and depth, EXIF and ICC, grey and colour, each bad image."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import file_digest, luma_pattern
from PIL import Image, ImageCms, ImageOps

from vidcolor.backends.torch_backend import TorchBackend
from vidcolor.errors import InputError, OutputError
from vidcolor.image import apply_orientation, planes_to_rgb, read_image, run_image
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.options import RunOptions

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def generators():
    """The tiny seeded generator, built once; a backend per style at the 32x32 model size."""
    generator = build_generator(GeneratorConfig.tiny(), seed=0)
    return {style: generator.for_style(style) for style in ("natural", "ukiyoe")}


def backend(generators, style: str = "natural") -> TorchBackend:
    return TorchBackend(generators[style], 1, 32, 32, "cpu")


def run(generators, src: Path, out: Path | None = None, style: str = "natural", **changes):
    out = out or src.with_name(f"{src.stem}.{style}{src.suffix}")
    options = RunOptions(input=src, output=out, style=style, model_height=32, quiet=True, **changes)
    return run_image(options, backend=backend(generators, style)), out


def grey(width: int = 64, height: int = 48, bits: int = 8) -> np.ndarray:
    """(height, width) full-range grey with a bright top-left block (shows turns and flips)."""
    y = luma_pattern(0, width, height).astype(np.uint16)
    return (y * 257).astype(np.uint16) if bits == 16 else y.astype(np.uint8)


def colour(width: int = 64, height: int = 48, bits: int = 8) -> np.ndarray:
    """(height, width, 3) RGB that is clearly not grey."""
    y = grey(width, height, bits)
    top = (1 << bits) - 1
    return np.dstack([y, top - y, y // 2]).astype(y.dtype)


def save_16bit_colour(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), rgb[..., ::-1].copy())  # Pillow cannot write 16-bit colour
    return path


def samples(path: Path) -> np.ndarray:
    """Every sample of an image file as stored: (H, W[, C]) uint8/uint16, RGB order."""
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return a[..., ::-1] if a.ndim == 3 and a.shape[2] == 3 else a


# ------------------------------------------------------------------ formats and depths


@pytest.mark.parametrize("ext, bits, kind, fmt", [
    (".jpg", 8, "grey", "JPEG"), (".png", 8, "grey", "PNG"), (".tif", 8, "grey", "TIFF"), (".webp", 8, "grey", "WEBP"),
    (".jpeg", 8, "colour", "JPEG"), (".png", 8, "colour", "PNG"), (".tiff", 8, "colour", "TIFF"), (".webp", 8, "colour", "WEBP"),
    (".png", 16, "grey", "PNG"), (".tif", 16, "grey", "TIFF"), (".png", 16, "colour", "PNG"), (".tif", 16, "colour", "TIFF"),
])
def test_each_format_and_depth_keeps_size_format_depth_and_input(tmp_path, generators, ext, bits, kind, fmt):
    src = tmp_path / f"photo{ext}"
    pixels = grey(bits=bits) if kind == "grey" else colour(bits=bits)
    if bits == 16 and kind == "colour":
        save_16bit_colour(src, pixels)
    else:
        Image.fromarray(pixels).save(src)
    before = file_digest(src)
    summary, out = run(generators, src)
    assert out.name == f"photo.natural{ext}" and summary.output == out
    with Image.open(out) as result:
        assert result.format == fmt and result.size == (64, 48) and result.mode == "RGB"
    stored = samples(out)
    assert stored.dtype == (np.uint16 if bits == 16 else np.uint8) and stored.shape == (48, 64, 3)
    spread = np.ptp(stored.astype(int), axis=2)  # colour: the channels differ
    assert spread.max() > (2 << (bits - 8))
    assert file_digest(src) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, out.name])  # no temporary file left


@pytest.mark.parametrize("ext, bits", [(".png", 8), (".tif", 8), (".png", 16), (".tif", 16)])
def test_natural_keeps_the_photos_luma_exactly_in_lossless_formats(tmp_path, generators, ext, bits):
    src = tmp_path / f"photo{ext}"
    Image.fromarray(grey(bits=bits)).save(src)
    _, out = run(generators, src)
    np.testing.assert_array_equal(read_image(out).luma, grey(bits=bits))


def test_colour_input_is_made_grey_first(tmp_path, generators):
    """A colour photo and its BT.709 grey give the same result: the model sees luma only."""
    rgb = colour()
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    luma = read_image(tmp_path / "colour.png").luma
    expected = np.rint(0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2])
    assert np.abs(luma.astype(int) - expected).max() <= 1
    Image.fromarray(luma).save(tmp_path / "grey.png")
    _, a = run(generators, tmp_path / "colour.png")
    _, b = run(generators, tmp_path / "grey.png")
    np.testing.assert_array_equal(samples(a), samples(b))


def test_grey_stored_as_rgb_is_read_as_it_is(tmp_path):
    y = grey()
    Image.fromarray(np.dstack([y, y, y])).save(tmp_path / "scan.png")
    np.testing.assert_array_equal(read_image(tmp_path / "scan.png").luma, y)


def test_a_style_restyles_the_photo(tmp_path, generators):
    src = tmp_path / "photo.png"
    Image.fromarray(grey()).save(src)
    _, natural = run(generators, src)
    _, ukiyoe = run(generators, src, style="ukiyoe")
    assert ukiyoe.name == "photo.ukiyoe.png" and samples(ukiyoe).shape == (48, 64, 3)
    assert not np.array_equal(samples(natural), samples(ukiyoe))


def test_output_format_follows_the_output_extension(tmp_path, generators):
    src = tmp_path / "deep.png"
    Image.fromarray(grey(bits=16)).save(src)
    summary, out = run(generators, src, tmp_path / "small.jpg")
    with Image.open(out) as result:
        assert result.format == "JPEG" and result.size == (64, 48)
    assert any("8-bit" in w for w in summary.warnings)


def test_still_gif_stays_a_gif(tmp_path, generators):
    src = tmp_path / "old.gif"
    Image.fromarray(grey()).convert("P").save(src)
    _, out = run(generators, src)
    with Image.open(out) as result:
        assert result.format == "GIF" and result.size == (64, 48)
        assert np.ptp(np.asarray(result.convert("RGB")).astype(int), axis=2).max() > 2


# ------------------------------------------------------------------ metadata


def test_exif_orientation_is_applied_and_reset_and_exif_icc_kept(tmp_path, generators):
    src = tmp_path / "phone.png"  # lossless, so the turned pixels can be compared exactly
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Kodak"  # orientation: turn 90 degrees clockwise; camera make
    Image.fromarray(grey()).save(src, exif=exif.tobytes(), icc_profile=SRGB)
    summary, out = run(generators, src)
    with Image.open(src) as original:
        upright = np.asarray(ImageOps.exif_transpose(original))
    with Image.open(out) as result:
        assert result.size == (48, 64) and summary.size == (48, 64)
        kept = result.getexif()
        assert kept[0x0112] == 1 and kept[0x010F] == "Kodak"
        assert result.info["icc_profile"] == SRGB
    np.testing.assert_array_equal(read_image(out).luma, upright)


@pytest.mark.parametrize("ext, bits", [(".jpg", 8), (".png", 8), (".webp", 8), (".tif", 8), (".png", 16)])
def test_exif_and_icc_profile_are_kept(tmp_path, generators, ext, bits):
    src = tmp_path / f"photo{ext}"
    exif = Image.Exif()
    exif[0x010F] = "Leica"
    Image.fromarray(grey(bits=bits)).save(src, exif=exif.tobytes(), icc_profile=SRGB)
    summary, out = run(generators, src)
    with Image.open(out) as result:
        assert result.getexif()[0x010F] == "Leica"
        assert result.info.get("icc_profile") == SRGB
    assert summary.warnings == ()


def test_16_bit_tiff_says_it_drops_metadata(tmp_path, generators):
    src = tmp_path / "scan.tif"
    Image.fromarray(grey(bits=16)).save(src, icc_profile=SRGB)
    summary, out = run(generators, src)
    assert samples(out).dtype == np.uint16
    assert any("ICC" in w for w in summary.warnings)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_orientation_matches_pillow(orientation):
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.info["exif"] = exif.tobytes()
    np.testing.assert_array_equal(apply_orientation(pixels, orientation), np.asarray(ImageOps.exif_transpose(image)))


# ------------------------------------------------------------------ modes: alpha, palette, CMYK


def test_alpha_is_kept(tmp_path, generators):
    alpha = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    Image.fromarray(np.dstack([grey(), alpha]), "LA").save(tmp_path / "cutout.png")
    _, out = run(generators, tmp_path / "cutout.png")
    stored = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert stored.shape == (48, 64, 4)
    np.testing.assert_array_equal(stored[..., 3], alpha)


def test_palette_with_transparency_becomes_rgba(tmp_path, generators):
    image = Image.fromarray(grey()).convert("P")
    image.info["transparency"] = 0
    image.save(tmp_path / "icon.png", transparency=0)
    _, out = run(generators, tmp_path / "icon.png")
    with Image.open(out) as result:
        assert result.mode == "RGBA" and result.size == (64, 48)


def test_cmyk_is_converted_to_rgb_with_a_warning(tmp_path, generators):
    Image.fromarray(colour()).convert("CMYK").save(tmp_path / "print.jpg")
    summary, out = run(generators, tmp_path / "print.jpg")
    with Image.open(out) as result:
        assert result.format == "JPEG" and result.mode == "RGB" and result.size == (64, 48)
    assert any("CMYK" in w for w in summary.warnings)


def test_planes_to_rgb_round_trips_grey_and_limited_range():
    y = np.array([[16, 128, 235]], np.uint8)
    neutral = np.full_like(y, 128)
    np.testing.assert_array_equal(planes_to_rgb(y, neutral, neutral, 8, full_range=False)[0, :, 0], [0, 130, 255])  # (128 - 16) / 219 * 255 = 130.4
    deep = np.array([[0, 40000, 65535]], np.uint16)
    mid = np.full_like(deep, 32768)
    np.testing.assert_array_equal(planes_to_rgb(deep, mid, mid, 16)[0, :, 1], deep[0])


# ------------------------------------------------------------------ bad images: one clear error, nothing written


class NeverCalled:
    name, batch, calls = "never", 1, 0

    def infer(self, luma):
        self.calls += 1
        raise AssertionError("the model ran on a bad input")


def refused(tmp_path: Path, src: Path, error: type, match: str, **changes) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    model = NeverCalled()
    options = RunOptions(input=src, output=changes.pop("output", src.with_name(f"{src.stem}.natural{src.suffix}")), model_height=32, **changes)
    with pytest.raises(error, match=match) as caught:
        run_image(options, backend=model)
    assert caught.value.hint and model.calls == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_truncated_jpeg(tmp_path):
    Image.fromarray(grey(256, 192)).save(tmp_path / "cut.jpg", quality=95)
    data = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    refused(tmp_path, tmp_path / "cut.jpg", InputError, "truncated")


def test_truncated_png(tmp_path):
    Image.fromarray(grey(256, 192)).save(tmp_path / "cut.png")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    refused(tmp_path, tmp_path / "cut.png", InputError, "truncated")


def test_not_an_image(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    refused(tmp_path, tmp_path / "notes.jpg", InputError, "not an image")


def test_animated_gif_asks_for_a_video_output(tmp_path):
    frames = [Image.fromarray(grey()).convert("P"), Image.fromarray(255 - grey()).convert("P")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(InputError, match="2 pictures") as caught:
        read_image(tmp_path / "anim.gif")
    assert ".mkv" in caught.value.hint


def test_multi_page_tiff(tmp_path):
    pages = [Image.fromarray(grey()), Image.fromarray(255 - grey())]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    refused(tmp_path, tmp_path / "pages.tif", InputError, "multi-page")


def test_floating_point_tiff(tmp_path):
    Image.fromarray(grey().astype(np.float32) / 255, "F").save(tmp_path / "float.tif")
    refused(tmp_path, tmp_path / "float.tif", InputError, "floating-point")


def test_missing_and_folder_inputs(tmp_path):
    refused(tmp_path, tmp_path / "nope.jpg", InputError, "not found")
    (tmp_path / "album.jpg").mkdir()
    refused(tmp_path, tmp_path / "album.jpg", InputError, "not a file")


def test_existing_output_needs_overwrite(tmp_path, generators):
    src = tmp_path / "photo.png"
    Image.fromarray(grey()).save(src)
    (tmp_path / "photo.natural.png").write_bytes(b"keep me")
    refused(tmp_path, src, OutputError, "already exists")
    assert (tmp_path / "photo.natural.png").read_bytes() == b"keep me"
    run(generators, src, overwrite=True)
    assert samples(tmp_path / "photo.natural.png").shape == (48, 64, 3)


def test_output_equal_to_input_and_unknown_extension(tmp_path):
    src = tmp_path / "photo.png"
    Image.fromarray(grey()).save(src)
    refused(tmp_path, src, OutputError, "overwrite the input", output=src, overwrite=True)
    refused(tmp_path, src, OutputError, "cannot write a .bmp image", output=tmp_path / "photo.bmp")


def test_ctrl_c_leaves_nothing(tmp_path):
    class Interrupted:
        name, batch = "interrupted", 1

        def infer(self, luma):
            raise KeyboardInterrupt

    src = tmp_path / "photo.jpg"
    Image.fromarray(grey()).save(src)
    with pytest.raises(KeyboardInterrupt):
        run_image(RunOptions(input=src, output=tmp_path / "out.jpg", model_height=32), backend=Interrupted())
    assert [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]


def test_read_image_reports_the_depth(tmp_path):
    Image.fromarray(grey(bits=16)).save(tmp_path / "a.png")
    save_16bit_colour(tmp_path / "b.png", colour(bits=16))
    Image.fromarray(grey()).save(tmp_path / "c.jpg")
    assert [read_image(tmp_path / n).bit_depth for n in ("a.png", "b.png", "c.jpg")] == [16, 16, 8]


@pytest.mark.parametrize("black_borders", [True, False])
def test_black_bars_stay_black_as_in_a_film(tmp_path, generators, black_borders):
    y = grey()
    y[:, :12] = y[:, -12:] = 0  # pillarbox
    Image.fromarray(y).save(tmp_path / "boxed.png")
    _, out = run(generators, tmp_path / "boxed.png", style="ukiyoe", black_borders=black_borders)
    bars = samples(out)[:, :12].astype(int)
    if black_borders:
        assert bars.max() == 0
    else:
        assert bars.max() > 10  # the style paints them


def test_an_image_too_large_to_open_safely(tmp_path, monkeypatch):
    Image.fromarray(grey()).save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses above twice this: 3072 px is "huge" here
    refused(tmp_path, tmp_path / "huge.png", InputError, "too large")
