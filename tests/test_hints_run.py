"""`vidcolor run --hint X,Y,COLOR`: parsing, the hint planes, the backend rule, the real shipped
natural weights on a photo and a film, the keys of resumed and parallel runs, and the mistakes."""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import decoded_lumas, file_digest, make_clip, read_frames
from PIL import Image
from typer.testing import CliRunner

from vidcolor.backends import load_backend
from vidcolor.cli import app
from vidcolor.color import rgb_to_lab, rgb_to_luma
from vidcolor.hints import Hint, HintError, hint_planes, parse_hint
from vidcolor.models.checkpoint import load_generator, save_generator
from vidcolor.models.generator import AB_RANGE, GeneratorConfig, HintBranch, build_generator
from vidcolor.options import EncodeOptions, RunOptions, SegmentOptions, TemporalOptions
from vidcolor.pipeline import run_video
from vidcolor.workdir import identity, work_folders

runner = CliRunner()
LOSSLESS = EncodeOptions(codec="libx264", crf=0, preset="ultrafast", pix_fmt="yuv444p")


def lab_of(path: Path) -> torch.Tensor:
    """An 8-bit RGB picture file -> Lab (3, H, W)."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    return rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1))


def grey_photo(path: Path) -> Path:
    """A 128x96 grey photo: a textured background with a flat mid-grey patch (x 20-59, y 20-75)."""
    yy, xx = np.mgrid[0:96, 0:128]
    y = (60 + 40 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + 30 * (xx / 128)).astype(np.uint8)
    y[20:76, 20:60] = 150
    Image.fromarray(y).save(path)
    return path


@pytest.fixture(scope="module")
def hint_weights(tmp_path_factory) -> Path:
    """A tiny seeded natural generator with a bins head and a hint branch."""
    config = GeneratorConfig(styles=("natural",), decoder=(16, 16, 8, 8, 8), pretrained=False, ab_head="bins", hints=True, hint_branch=True)
    return save_generator(tmp_path_factory.mktemp("w") / "hinted.safetensors", build_generator(config, seed=0))


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize("text, hint", [
    ("120,80,#c0392b", Hint(120, 80, (0xC0, 0x39, 0x2B))),
    ("0,0,#f00", Hint(0, 0, (255, 0, 0))),
    (" 5 , 7 , navy ", Hint(5, 7, (0, 0, 128))),
    ("3,4,rgb(10,20,30)", Hint(3, 4, (10, 20, 30))),
    ("3,4,#808080", Hint(3, 4, (128, 128, 128))),  # grey is a colour too: "this is grey"
    ("120,80,#c0392b@12.5", Hint(120, 80, (0xC0, 0x39, 0x2B), 12.5)),  # on the frame at 12.5 s of a film
    ("3,4,rgb(10,20,30) @ 1:02.5", Hint(3, 4, (10, 20, 30), 62.5)),
    ("3,4,red@1:00:02", Hint(3, 4, (255, 0, 0), 3602.0)),
    ("3,4,red@0", Hint(3, 4, (255, 0, 0), 0.0)),
])
def test_parse_hint_reads_pixels_and_colours_and_prints_back(text, hint):
    assert parse_hint(text) == hint
    assert parse_hint(str(hint)) == hint
    assert str(Hint(1, 2, (255, 0, 16))) == "1,2,#ff0010"


@pytest.mark.parametrize("text, message", [
    ("120,80", "is not X,Y,COLOR"),
    ("120,,red", "is not X,Y,COLOR"),
    ("", "is not X,Y,COLOR"),
    ("-3,80,red", "x must be a whole number of pixels from 0, got '-3'"),
    ("12.5,80,red", "x must be a whole number"),
    ("12,eighty,red", "y must be a whole number"),
    ("12,80,reddish", "unknown colour 'reddish'"),
    ("12,80,#12345", "unknown colour '#12345'"),
    ("12,80,red@", "'' is not a moment of the film"),
    ("12,80,red@soon", "'soon' is not a moment of the film"),
    ("12,80,red@-2", "'-2' is not a moment of the film"),
    ("12,80,red@1:75", "'1:75' is not a moment of the film"),
    ("12,80,red@1:60:00", "is not a moment of the film"),
    ("12,80,red@1:2:3:4", "is not a moment of the film"),
    ("12,80,red@inf", "is not a moment of the film"),
    ("12,80,red@nan", "is not a moment of the film"),
    ("12,80@3", "is not X,Y,COLOR"),
])
def test_parse_hint_names_the_mistake(text, message):
    with pytest.raises(HintError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_hint(text)


# ------------------------------------------------------------------ the planes


def test_hint_planes_put_a_3x3_square_of_the_colours_lab_ab_at_the_scaled_point():
    red = Hint(100, 50, (255, 0, 0))  # picture 200x100 -> model 64x128: centre (32, 64)
    planes = hint_planes((red,), (100, 200), (64, 128))
    assert planes.shape == (3, 64, 128) and planes.dtype == torch.float32
    assert torch.nonzero(planes[2]).tolist() == [[y, x] for y in (31, 32, 33) for x in (63, 64, 65)]
    ab = rgb_to_lab(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1))[1:, 0, 0] / AB_RANGE
    torch.testing.assert_close(planes[:2, 31:34, 63:66], ab.view(2, 1, 1).expand(2, 3, 3))
    assert planes[:, planes[2] == 0].abs().max() == 0  # nothing outside the square


def test_hint_planes_at_the_corners_are_clipped_and_grey_has_no_colour():
    corners = (Hint(0, 0, (128, 128, 128)), Hint(199, 99, (0, 0, 255)))
    planes = hint_planes(corners, (100, 200), (64, 128))
    assert planes[2].sum() == 8  # two 2x2 corners of their squares
    assert planes[2, :2, :2].all() and planes[2, -2:, -2:].all()
    assert planes[:2, :2, :2].abs().max() < 1e-3  # grey: a = b = 0, with the mask set
    assert planes[1, -1, -1] < -0.5  # blue: b strongly negative


# ------------------------------------------------------------------ backends


def two_hints() -> torch.Tensor:
    """A red and a blue hint on a 96x64 picture at model size 64x96."""
    return hint_planes((Hint(10, 10, (255, 0, 0)), Hint(70, 40, (0, 0, 255))), (64, 96), (64, 96))


def test_hints_run_on_onnx_runtime_by_default_and_agree_with_torch(hint_weights, tmp_path):
    luma = np.random.default_rng(1).random((3, 1, 64, 96), dtype=np.float32)
    with load_backend("torch", "natural", 64, 96, 3, "cpu", hint_weights, hints=two_hints()) as eager:
        want = eager.infer(luma)
    with load_backend("auto", "natural", 64, 96, 3, "cpu", hint_weights, tmp_path, hints=two_hints()) as hinted:
        assert hinted.name == "onnxruntime"
        got = hinted.infer(luma)
        assert np.abs(got[:1] - hinted.infer(luma[:1])).max() < 1e-5  # a short batch is padded, not confused
    np.testing.assert_allclose(got, want, atol=1e-3)
    [onnx] = tmp_path.glob("*.onnx")
    assert "natural_hints64_" in onnx.name  # 18 hinted pixels, capacity rounded up to 64: its own cache name
    with load_backend("auto", "natural", 64, 96, 3, "cpu", hint_weights, tmp_path) as plain:  # no hints: the automatic export
        auto = plain.infer(luma)
    assert len(list(tmp_path.glob("*.onnx"))) == 2 and np.abs(got - auto).max() > 1e-3


def test_a_hint_graph_builds_a_tensorrt_engine_with_a_hints_input(hint_weights, tmp_path, monkeypatch):
    import fake_tensorrt

    from vidcolor.backends.tensorrt_backend import TensorRTBackend
    from vidcolor.engine import GpuInfo
    from vidcolor.hints import HintGraph, HintSource

    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt)
    gen = load_generator(hint_weights).eval()
    source = HintSource(two_hints())
    luma = np.random.default_rng(2).random((2, 1, 64, 96), dtype=np.float32)
    hints = source(luma)
    assert hints.shape == (2, 3, 64, 96) and source.capacity == 64
    with torch.no_grad():
        want = gen(torch.from_numpy(luma), 0, hints=torch.from_numpy(hints)).numpy()
    graph = HintGraph(gen, 0, source.capacity)
    with TensorRTBackend.from_module(graph, "natural+hints64", 2, 64, 96, tmp_path, "fp32", GpuInfo("Fake GPU", "9.0"), "cpu") as engine:
        np.testing.assert_allclose(engine.infer(luma, hints), want, atol=1e-3)
        with pytest.raises(ValueError, match="this model takes hints"):
            engine.infer(luma)


def test_a_static_graph_sized_by_its_source_gives_what_torch_gives_with_the_most_hints(hint_weights):
    """The capacity bounds what a frame can get: every grid point of a reference plus the planes' pixels."""
    from vidcolor.hints import HintGraph, HintSource
    from vidcolor.reference import max_reference_points

    assert max_reference_points((64, 96)) == 4 * 6 and max_reference_points((256, 448)) == 16 * 28
    gen = load_generator(hint_weights).eval()
    planes = torch.zeros(3, 64, 96)
    planes[:, 8::16, 8::16] = torch.tensor([0.3, -0.2, 1.0]).view(3, 1, 1)  # the reference grid, all of it
    planes[:, 30:33, 40:43] = torch.tensor([-0.1, 0.4, 1.0]).view(3, 1, 1)
    source = HintSource(planes)
    assert source.capacity == 64 >= 24 + 9
    luma = torch.rand(2, 1, 64, 96)
    hints = torch.from_numpy(source(luma.numpy()))
    with torch.no_grad():
        eager = HintGraph(gen, 0)(luma, hints)
        static = HintGraph(gen, 0, source.capacity)(luma, hints)
        short = HintGraph(gen, 0, 8)(luma, hints)  # too small: hints are dropped, so it must differ
    torch.testing.assert_close(static, eager, atol=1e-4, rtol=1e-4)
    assert (short - eager).abs().max() > 1e-3


def test_load_backend_gives_the_planes_to_every_frame_and_none_leaves_the_automatic_module(hint_weights):
    gen = load_generator(hint_weights)
    planes = hint_planes((Hint(10, 10, (255, 0, 0)),), (64, 96), (64, 96))
    luma = np.random.default_rng(0).random((2, 1, 64, 96), dtype=np.float32)
    with load_backend("torch", "natural", 64, 96, 2, "cpu", hint_weights, hints=planes) as hinted:
        out = hinted.infer(luma)
    with torch.no_grad():
        want = gen(torch.from_numpy(luma), 0, hints=planes[None].expand(2, -1, -1, -1)).numpy()
        auto = gen(torch.from_numpy(luma), 0).numpy()
    np.testing.assert_allclose(out, want, atol=1e-5)
    assert np.abs(out - auto).max() > 1e-3
    with load_backend("torch", "natural", 64, 96, 2, "cpu", hint_weights) as plain:
        np.testing.assert_allclose(plain.infer(luma), auto, atol=1e-5)


# ------------------------------------------------------------------ the real shipped weights


def test_a_red_or_blue_hint_colours_its_region_with_the_shipped_weights(tmp_path):
    photo = grey_photo(tmp_path / "photo.png")
    results = {}
    for name, args in {"auto": [], "red": ["--hint", "40,48,#ff0000"], "blue": ["--hint", "40,48,blue"]}.items():
        out = tmp_path / f"{name}.png"
        result = runner.invoke(app, ["run", str(photo), "-o", str(out), "-q", *args])
        assert result.exit_code == 0, result.output
        results[name] = lab_of(out)
    point = (slice(43, 54), slice(35, 46))  # 11x11 px around the hint
    patch, elsewhere = (slice(20, 76), slice(20, 60)), (slice(None), slice(80, None))
    auto_a, red_a = results["auto"][1][point].mean(), results["red"][1][point].mean()
    assert abs(auto_a) < 15 and red_a > 30 and red_a > auto_a + 25  # red at the point
    assert results["red"][1][patch].mean() > results["red"][1][elsewhere].mean() + 10  # and most in its own region
    assert results["blue"][2][point].mean() < -30 < results["auto"][2][point].mean()
    # natural keeps the photo's luma (BT.709), hints or not
    grey = np.asarray(Image.open(photo), dtype=np.float32)
    for name in results:
        rgb = torch.from_numpy(np.asarray(Image.open(tmp_path / f"{name}.png").convert("RGB"), dtype=np.float32)).permute(2, 0, 1)
        assert np.abs(rgb_to_luma(rgb)[0].numpy() - grey).max() <= 1.0


def test_without_hints_the_hint_branch_is_not_run(tmp_path, monkeypatch):
    photo = grey_photo(tmp_path / "photo.png")
    before = tmp_path / "before.png"
    assert runner.invoke(app, ["run", str(photo), "-o", str(before), "-q", "--backend", "torch"]).exit_code == 0

    def refuse(*args):
        raise AssertionError("the hint branch ran")

    monkeypatch.setattr(HintBranch, "forward", refuse)
    after = tmp_path / "after.png"
    assert runner.invoke(app, ["run", str(photo), "-o", str(after), "-q", "--backend", "torch"]).exit_code == 0
    assert file_digest(after) == file_digest(before)
    result = runner.invoke(app, ["run", str(photo), "-o", str(tmp_path / "hinted.png"), "-q", "--hint", "1,1,red", "--backend", "torch"])
    assert result.exit_code == 2 and "the hint branch ran" in result.output  # hints do go through it


def test_a_hinted_photo_of_kodak_turns_the_cap_towards_the_hint(tmp_path, shared_data):
    source = shared_data / "photos" / "kodak24" / "kodim03.jpg"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    grey = tmp_path / "caps.png"
    Image.open(source).convert("L").save(grey)
    auto, hinted = tmp_path / "auto.png", tmp_path / "hinted.png"
    assert runner.invoke(app, ["run", str(grey), "-o", str(auto), "-q"]).exit_code == 0
    assert runner.invoke(app, ["run", str(grey), "-o", str(hinted), "-q", "--hint", "130,100,#2060ff"]).exit_code == 0
    cap = (slice(95, 106), slice(125, 136))  # the second cap, around the point
    # warm before, blue now (natural v8: b +21 -> -53 here; v7 +17 -> -16, v6 about -33: docs/MODEL.md "natural v8")
    assert lab_of(auto)[2][cap].mean() > 0 > -10 > lab_of(hinted)[2][cap].mean()


def letterboxed(index: int, width: int, height: int, bit_depth: int = 8) -> np.ndarray:
    """A 64x48 picture between black bars of 8 rows, the picture's middle a flat grey."""
    y = np.full((height, width), 16, np.uint8)
    yy, xx = np.mgrid[0:height - 16, 0:width]
    y[8:-8] = 60 + (3 * xx + 2 * yy + index) % 100
    y[16:32, 16:48] = 150
    return y


def test_a_film_gets_the_hint_in_every_frame_and_its_bars_stay_black(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=6, picture=letterboxed)
    before = decoded_lumas(src)
    auto, hinted = tmp_path / "auto.mkv", tmp_path / "hinted.mkv"
    common = ["-q", "--codec", "libx264", "--crf", "0", "--pix-fmt", "yuv444p", "--model-height", "64"]
    assert runner.invoke(app, ["run", str(src), "-o", str(auto), *common]).exit_code == 0
    result = runner.invoke(app, ["run", str(src), "-o", str(hinted), "--hint", "32,24,#ff0000", *common])
    assert result.exit_code == 0, result.output
    (_, auto_frames), (_, frames) = read_frames(auto), read_frames(hinted)
    assert len(frames) == len(before) == 6
    for frame, plain, y in zip(frames, auto_frames, before, strict=True):
        _, cb, cr = (p.astype(int) for p in frame.to_ndarray(format="yuv444p"))
        _, _, cr_auto = (p.astype(int) for p in plain.to_ndarray(format="yuv444p"))
        assert cr[20:28, 28:36].mean() > cr_auto[20:28, 28:36].mean() + 10  # red: more Cr at the point, every frame
        assert np.abs(cb[:8] - 128).max() <= 1 and np.abs(cr[-8:] - 128).max() <= 1  # the bars have no colour
        np.testing.assert_array_equal(frame.to_ndarray(format="yuv444p")[0], y)  # natural: the luma to the bit


# ------------------------------------------------------------------ keys: resume, segments, workers


def test_hints_are_in_the_work_folder_key_and_runs_without_hints_keep_their_key(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=4)
    from vidcolor.video.reader import probe

    info = probe(src)
    plain = RunOptions(input=src, output=tmp_path / "out.mp4")
    red = RunOptions(input=src, output=tmp_path / "out.mp4", hints=(Hint(1, 2, (255, 0, 0)),))
    blue = RunOptions(input=src, output=tmp_path / "out.mp4", hints=(Hint(1, 2, (0, 0, 255)),))
    assert "hints" not in identity(plain, info)["settings"]  # the key of runs before hints existed
    assert identity(red, info)["settings"]["hints"] == ["1,2,#ff0000"]
    assert len({str(identity(o, info)) for o in (plain, red, blue)}) == 3
    assert pickle.loads(pickle.dumps(red)) == red  # what worker processes and Ray tasks receive


def test_a_rerun_with_other_hints_does_not_reuse_the_segments_of_the_old_ones(tmp_path, hint_weights):
    src = make_clip(tmp_path / "film.mp4", frames=24)
    out = tmp_path / "out.mp4"

    def options(colour: str) -> RunOptions:
        return RunOptions(input=src, output=out, weights=hint_weights, backend="torch", device="cpu", model_height=32, quiet=True,
                          encode=LOSSLESS, temporal=TemporalOptions(), segments=SegmentOptions(target_frames=6), keep_work=True,
                          overwrite=True, hints=(parse_hint(f"10,10,{colour}"),))

    first = run_video(options("red"))
    assert first.segments > 1
    again = run_video(options("red"))
    assert again.kept_segments == again.segments  # the same hints: every segment kept
    other = run_video(options("blue"))
    assert other.kept_segments == 0
    assert any("settings changed: hints ['10,10,#ff0000'] -> ['10,10,#0000ff']" in note for note in other.notes)
    assert len(work_folders(out)) == 1


def test_a_worker_process_loads_its_backend_again_for_other_hints(tmp_path, hint_weights, monkeypatch):
    import vidcolor.pipeline as pipeline
    import vidcolor.segments as segments
    from vidcolor.pipeline import validate
    from vidcolor.segments import Segment, segment_job

    src = make_clip(tmp_path / "film.mp4", frames=4)
    loaded = []
    original = pipeline._load_backend  # segment_job imports it from vidcolor.pipeline when it runs

    def spy(options, style, size, picture, **kwargs):
        loaded.append(options.hints)
        return original(options, style, size, picture, **kwargs)

    monkeypatch.setattr(pipeline, "_load_backend", spy)
    monkeypatch.setattr(segments, "_WORKER_BACKEND", {})
    for colour in ("red", "red", "blue"):
        options = RunOptions(input=src, output=tmp_path / "out.mp4", weights=hint_weights, backend="torch", device="cpu",
                             model_height=32, quiet=True, encode=LOSSLESS, overwrite=True, hints=(parse_hint(f"3,3,{colour}"),))
        _, info, fmt = validate(options)
        segment_job(options, info, fmt, Segment(0, 0, 4, 0, 0, None), tmp_path / f"{colour}.mov", threads=1)
    assert [h[0].rgb for h in loaded] == [(255, 0, 0), (0, 0, 255)]  # red once (kept for the second segment), then blue


# ------------------------------------------------------------------ mistakes: one line, exit 1, nothing written


def refused(tmp_path: Path, args: list[str], source: Path | None = None) -> str:
    """Run the CLI on a photo (or ``source``) and check it refused cleanly: exit 1, no traceback,
    no output, the input untouched. Returns the output text."""
    source = source or grey_photo(tmp_path / "photo.png")
    digest = file_digest(source)
    out = tmp_path / f"out{source.suffix}"
    result = runner.invoke(app, ["run", str(source), "-o", str(out), *args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "error:" in result.output
    assert not out.exists() and file_digest(source) == digest
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary or work folder
    return " ".join(result.output.split())


@pytest.mark.parametrize("args, message", [
    (["--hint", "12,80"], "--hint '12,80' is not X,Y,COLOR"),
    (["--hint", "12,80,reddish"], "unknown colour 'reddish'"),
    (["--hint", "128,10,red"], "--hint 128,10,#ff0000: the point is outside the picture, which is 128x96 px"),
    (["--hint", "10,96,red"], "outside the picture, which is 128x96 px"),
    (["--hint", "10,10,red", "--style", "ukiyoe"], "--hint gives colours to the natural colourization; 'ukiyoe' paints its own palette"),
    (["--hint", "10,10,red", "--style", "ukiyoe:0.6,starry:0.4"], "paints its own palette"),
])
def test_cli_refuses_bad_hints_with_one_clear_line(tmp_path, args, message):
    assert message in refused(tmp_path, args)


def test_cli_refuses_hints_for_weights_without_a_hint_branch(tmp_path):
    weights = save_generator(tmp_path / "w" / "plain.safetensors", build_generator(GeneratorConfig.tiny(("natural",)), seed=0))
    text = refused(tmp_path, ["--hint", "10,10,red", "--weights", str(weights)])
    assert "plain.safetensors has no hint branch, so it cannot take --hint colours" in text and "leave --weights out" in text


def test_cli_refuses_a_moment_on_a_photo_or_past_the_end_of_a_film(tmp_path):
    assert "--hint 10,10,#ff0000@2: a photo has no moment to tie the point to" in refused(tmp_path, ["--hint", "10,10,red@2"])
    src = make_clip(tmp_path / "film.mp4", frames=3)  # 0.12 s at 25 frames/s
    text = refused(tmp_path, ["--hint", "10,10,red@0.5"], source=src)
    assert "the film is 0.12 s long, so it has no frame at 0.5 s" in text


def test_points_tied_to_a_moment_are_in_the_work_folder_key(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=3)
    from vidcolor.video.reader import probe

    def key(*texts: str) -> dict:
        return identity(RunOptions(input=src, output=tmp_path / "o.mp4", hints=tuple(parse_hint(t) for t in texts)), probe(src))

    assert key("3,3,red") != key("3,3,red@0") != key("3,3,red@0.04")
    assert key("3,3,red@0.04")["settings"]["hints"] == ["3,3,#ff0000@0.04"]


def test_a_moment_counts_from_the_films_first_frame_as_a_players_clock_does(tmp_path):
    """A film whose first frame is at 1.0 s (as MPEG-TS and edited files often are): @0 is that frame,
    @0.2 the sixth; a moment past its last frame is refused by name even where the header's length is
    wrong (Matroska's counts from 0 here)."""
    from vidcolor.pipeline import hint_keyframes
    from vidcolor.video.reader import probe

    def flat(index: int, width: int, height: int, bit_depth: int = 8) -> np.ndarray:
        return np.full((height, width), 20 + 20 * index, np.uint8)  # frame i: luma 20 + 20 i

    src = make_clip(tmp_path / "late.mkv", frames=10, codec="ffv1", pix_fmt="gray", pts=list(range(25, 35)), picture=flat)
    info = probe(src)
    assert info.start_time == pytest.approx(1.0)
    hints = (parse_hint("3,3,red@0"), parse_hint("3,3,blue@0.2"), parse_hint("5,5,lime"))
    (first, red), (sixth, blue) = hint_keyframes(hints, info, (32, 64))
    assert first.mean() * 255 == pytest.approx(20, abs=0.5) and sixth.mean() * 255 == pytest.approx(120, abs=0.5)
    every = hint_planes((hints[2],), (48, 64), (32, 64)).numpy()
    np.testing.assert_array_equal(red, hint_planes((hints[2], hints[0]), (48, 64), (32, 64)).numpy())  # its points and the every-frame ones
    assert (red[2] > every[2]).any() and (blue[0] != red[0]).any()
    with pytest.raises(HintError, match="late.mkv ends before 0.5 s"):
        hint_keyframes((parse_hint("3,3,red@0.5"),), info, (32, 64))


def test_a_keyframe_alone_makes_room_for_a_references_points_and_for_its_own():
    from vidcolor.hints import HintSource
    from vidcolor.reference import max_reference_points

    luma = np.zeros((64, 96), np.float32)
    empty = torch.zeros(3, 64, 96)
    referenced = HintSource(empty, references=(object(),)).capacity
    assert HintSource(empty).capacity == 64 and referenced >= max_reference_points((64, 96))
    assert HintSource(empty, keyframes=((luma, np.zeros((3, 64, 96), np.float32)),)).capacity == referenced
    crowded = np.zeros((3, 64, 96), np.float32)
    crowded[2, :, :10] = 1  # 640 hinted pixels on the keyframe, more than a reference's grid
    assert HintSource(empty, keyframes=((luma, crowded),)).capacity == 640


def test_a_keyframe_is_coloured_with_its_points_and_becomes_a_reference(hint_weights):
    """The HintedBackend colours each keyframe once, with its own points, through its graph, and adds
    it to the references; the points are not given to the other frames."""
    from vidcolor.reference import Reference

    rng = np.random.default_rng(0)
    luma = rng.random((32, 64)).astype(np.float32)
    planes = hint_planes((Hint(10, 10, (255, 0, 0)),), (32, 64), (32, 64)).numpy()
    with load_backend("torch", "natural", 32, 64, 2, "cpu", hint_weights, keyframes=((luma, planes),)) as backend:
        (reference,) = backend.source.references
        assert isinstance(reference, Reference) and backend.source.keyframes == ()
        assert not reference.known  # the model's colours away from the points: hints, not laid over the output
        expected = backend.backend.infer(luma[None, None], planes[None])[0]
        np.testing.assert_allclose(reference.ab, expected)
        assert not np.allclose(expected, backend.backend.infer(luma[None, None], np.zeros_like(planes)[None])[0], atol=1e-3)
        assert (backend.source(luma[None, None])[0, 2] > 0).sum() > 1  # other frames get the keyframe's matched colours ...
        np.testing.assert_array_equal(backend.source.planes, 0)  # ... not its points


def test_cli_refuses_a_point_outside_a_film_before_writing_anything(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=3)
    text = refused(tmp_path, ["--hint", "64,0,red"], source=src)
    assert "outside the picture, which is 64x48 px" in text and "x goes from 0 to 63" in text
