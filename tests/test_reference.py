"""`vidcolor run --reference PICTURE`: a colour picture of the same framing matched to every frame by
optical flow (vidcolor.reference): the hints it gives, the mistakes it refuses, the work-folder key,
and the shipped weights on a real photo and a moving film."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import file_digest
from PIL import Image
from typer.testing import CliRunner

from vidcolor.cli import app
from vidcolor.flow import load_flow
from vidcolor.hints import HintError, parse_hint
from vidcolor.metrics import psnr
from vidcolor.models.generator import AB_RANGE
from vidcolor.options import RunOptions
from vidcolor.reference import (Reference, candidates, check_reference_shape, grid_points, lay_over, read_reference,
                                reference_hints, reference_planes)
from vidcolor.workdir import identity

runner = CliRunner()


def scene(height: int = 96, width: int = 160, shift: int = 0, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: a smooth random texture (flow can follow it) under three colour bands, red,
    green, blue from left to right, everything moved ``shift`` px to the right."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height // 8 + 2, (width + 64) // 8 + 2)).astype(np.float32)
    texture = np.asarray(Image.fromarray(noise * 255).resize(((width + 64), height), Image.BICUBIC), np.float32) / 255
    tint = np.zeros((height, width + 64, 3), np.float32)
    thirds = np.arange(width + 64) * 3 // (width + 64)
    tint[..., 0], tint[..., 1], tint[..., 2] = thirds == 0, thirds == 1, thirds == 2
    rgb = 0.25 + 0.35 * texture[..., None] + 0.3 * tint
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)[:, 32 - shift: 32 - shift + width]


def planes_of(picture: np.ndarray) -> tuple[Reference, np.ndarray]:
    """A picture's Reference at its own size and its luma (h, w)."""
    ref = reference_planes(picture, picture.shape[:2])
    return ref, ref.luma


# ------------------------------------------------------------------ the hints


def test_grid_points_are_the_trusted_grid_centres():
    trust = np.zeros((32, 48), np.float32)
    trust[:16] = 1.0
    points = grid_points(trust, spacing=16)
    assert points == [(8, 8), (8, 24), (8, 40)]


def test_the_reference_itself_gives_its_own_colours_on_the_whole_grid():
    ref, luma = planes_of(scene())
    hints = reference_hints((ref,), luma, load_flow("medium"))
    points = grid_points(np.ones_like(luma))
    mask = hints[2].numpy()
    assert sum(mask[y, x] > 0 for y, x in points) >= 0.9 * len(points) and mask.sum() <= len(points)  # one pixel a point
    for y, x in points[:: 7]:
        if mask[y, x]:
            square = ref.ab[:, y - 1:y + 2, x - 1:x + 2].mean(axis=(1, 2))
            np.testing.assert_allclose(hints[:2, y, x].numpy() * AB_RANGE, square, atol=0.5)


def test_a_moved_frame_gets_the_colours_from_where_they_moved():
    ref, _ = planes_of(scene())
    moved = reference_planes(scene(shift=6), (96, 160))
    hints = reference_hints((ref,), moved.luma, load_flow("medium"))
    mask = hints[2].numpy() > 0
    assert mask.sum() >= 40  # most of the 6 x 10 grid
    ab = hints[:2].numpy() * AB_RANGE
    mean3 = lambda x: torch.nn.functional.avg_pool2d(torch.from_numpy(x)[None], 3, 1, 1, count_include_pad=False)[0].numpy()  # noqa: E731
    # the hints carry the moved picture's own colours (the reference's, from 6 px to the left; each
    # point its 3x3 mean), not the reference's colours at the same place (wrong along the bands' edges)
    moved_err = np.abs(ab - mean3(moved.ab))[:, mask].mean()
    unmoved_err = np.abs(ab - mean3(ref.ab))[:, mask].mean()
    assert moved_err < 1.5 and 2 * moved_err < unmoved_err, (moved_err, unmoved_err)


def test_another_shot_gives_no_hints(shared_data):
    """Real pictures of other scenes match a reference on 0-7 % of their pixels (eight DAVIS and
    videos_more shots against each other: docs/MODEL.md, session 21), under the 15 % a frame needs."""
    kodak = shared_data / "photos" / "kodak24"
    if not kodak.is_dir():
        pytest.skip(f"{kodak} not found")
    pictures = [np.asarray(Image.open(kodak / f"kodim{i:02d}.jpg").convert("RGB"))[:256, :256] for i in (3, 14, 19, 23)]
    flow = load_flow("medium")
    for a, b in zip(pictures, pictures[1:] + pictures[:1]):
        ref = reference_planes(a, (256, 256))
        assert float(reference_hints((ref,), reference_planes(b, (256, 256)).luma, flow)[2].sum()) == 0.0


def kodak_shots(shared_data: Path) -> list[np.ndarray]:
    kodak = shared_data / "photos" / "kodak24"
    if not kodak.is_dir():
        pytest.skip(f"{kodak} not found")
    return [np.asarray(Image.open(kodak / f"kodim{i:02d}.jpg").convert("RGB"))[:256, :384] for i in (3, 14, 19, 23)]


def test_of_several_references_a_frame_takes_its_own_shots(shared_data):
    """Four real pictures as the references of a four-shot film; each shot's frame (moved 6 px, 5 % darker)
    ranks its own reference first and takes its colours, not another shot's."""
    shots = kodak_shots(shared_data)
    refs = tuple(reference_planes(p, (256, 384)) for p in shots)
    flow = load_flow("medium")
    for i, picture in enumerate(shots):
        panned = np.roll(picture, 6, axis=1)
        frame = reference_planes((panned * 0.95).astype(np.uint8), (256, 384))  # a later frame: panned, a flicker darker
        assert candidates(refs, frame.luma)[0] == i
        hints = reference_hints(refs, frame.luma, flow)
        mask = hints[2].numpy() > 0
        assert mask.sum() >= 100
        truth = reference_planes(panned, (256, 384)).ab  # the reference's colours where they moved to
        own = np.abs(hints[:2].numpy()[:, mask] * AB_RANGE - truth[:, mask]).mean()
        others = min(np.abs(hints[:2].numpy()[:, mask] * AB_RANGE - r.ab[:, mask]).mean() for j, r in enumerate(refs) if j != i)
        assert own < 3 and own * 2 < others, (i, own, others)


def test_one_reference_is_matched_whatever_it_looks_like_and_none_gives_nothing():
    ref, luma = planes_of(scene())
    assert candidates((ref,), 1 - luma) == [0] and candidates((), luma) == []
    assert float(reference_hints((), luma, load_flow("medium")).abs().sum()) == 0.0


def test_a_film_carries_the_colours_on_through_an_exposure_drift():
    """Each frame 0.04 brighter than the last (a slow fade, a drifting exposure): matched to the
    reference alone, the brightness soon disagrees and the hints stop; each frame also matched to
    the previous frame's matched colours keeps them to the end, still the reference's own."""
    from vidcolor.hints import HintSource

    ref, luma = planes_of(scene())
    frames = [np.clip(luma + 0.04 * t, 0, 1) for t in range(1, 7)]
    counts, last = {}, {}
    for carry in (False, True):
        source = HintSource(torch.zeros(3, *luma.shape), (ref,), carry=carry)
        hints = [source(f[None, None])[0] for f in frames]
        counts[carry] = [int(h[2].sum()) for h in hints]
        last[carry] = hints[-1]
    grid = len(grid_points(np.ones_like(luma)))
    assert counts[False][0] >= 0.9 * grid and counts[False][-1] == 0, counts
    assert min(counts[True]) >= 0.9 * grid, counts
    mask = last[True][2] > 0
    mean3 = torch.nn.functional.avg_pool2d(torch.from_numpy(ref.ab)[None], 3, 1, 1, count_include_pad=False)[0].numpy()
    assert np.abs(last[True][:2][:, mask] * AB_RANGE - mean3[:, mask]).mean() < 1.0


def test_the_matched_colours_are_laid_over_the_output_by_their_trust():
    ab = np.full((2, 2, 3, 4), 5.0, np.float32)  # two frames' model a/b
    trust = np.array([[1.0, 0.5, 0.0, 0.25]] * 3, np.float32)
    colours = Reference(np.zeros((3, 4), np.float32), np.full((2, 3, 4), -15.0, np.float32), trust)
    out = lay_over(ab, [colours, None])
    np.testing.assert_allclose(out[0, :, 0], [[-15.0, -5.0, 5.0, 0.0]] * 2)  # 5 + trust x (-15 - 5)
    np.testing.assert_array_equal(out[1], ab[1])  # nothing matched: the model's own
    assert lay_over(ab, [None, None]) is ab and (ab == 5.0).all()  # the input is not changed
    guessed = Reference(colours.luma, colours.ab, trust, known=False)  # a frame coloured from a few points: hints only
    np.testing.assert_array_equal(lay_over(ab, [guessed, None]), ab)


def test_a_guessed_references_colours_stay_guessed_when_carried():
    """A keyframe coloured from a few points (``known`` False) and the colours carried from it stay
    hints only; a picture's stay laid over."""
    from vidcolor.hints import HintSource

    ref, luma = planes_of(scene())
    frames = [planes_of(scene(shift=t))[1] for t in (1, 2)]
    for known in (True, False):
        source = HintSource(torch.zeros(3, *luma.shape), (Reference(ref.luma, ref.ab, known=known),))
        found = [source.match(f[None, None])[1][0] for f in frames]
        assert all(c is not None and c.known == known for c in found)
        assert source.carried.known == known


def test_a_frame_that_matches_its_reference_comes_out_in_the_references_colours(tmp_path):
    """The hinted backend lays the matched colours over the model's: a frame the reference matches
    everywhere (the reference's own picture, 2 px on) gets its colours, whatever the model guessed."""
    from vidcolor.backends import load_backend
    from vidcolor.models.checkpoint import save_generator
    from vidcolor.models.generator import GeneratorConfig, build_generator

    config = GeneratorConfig(styles=("natural",), decoder=(16, 16, 8, 8, 8), pretrained=False, ab_head="bins", hints=True, hint_branch=True)
    weights = save_generator(tmp_path / "hinted.safetensors", build_generator(config, seed=0))
    ref, _ = planes_of(scene())
    _, moved = planes_of(scene(shift=2))
    with load_backend("torch", "natural", 96, 160, 1, "cpu", weights, references=(ref,)) as backend:
        out = backend.infer(moved[None, None])[0]
        plain = backend.backend.infer(moved[None, None], backend.source(moved[None, None]))[0]
    inner = (slice(8, -8), slice(12, -8))  # away from the edge the move uncovered
    expected = np.roll(ref.ab, 2, axis=2)[:, inner[0], inner[1]]
    assert np.abs(out[:, inner[0], inner[1]] - expected).mean() < 1.0
    assert np.abs(plain[:, inner[0], inner[1]] - expected).mean() > 5.0  # the tiny model alone is far from them


def test_frame_and_reference_must_have_one_size():
    ref, _ = planes_of(scene())
    with pytest.raises(ValueError, match="differ in size"):
        reference_hints((ref,), np.zeros((48, 80), np.float32), load_flow("medium"))


# ------------------------------------------------------------------ reading and checking the picture


def test_read_reference_refuses_what_it_cannot_use(tmp_path):
    with pytest.raises(HintError, match="no such picture file"):
        read_reference(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(HintError, match="not a picture vidcolor can read"):
        read_reference(tmp_path / "notes.png")
    Image.fromarray(np.full((20, 30), 90, np.uint8)).convert("RGB").save(tmp_path / "grey.png")
    with pytest.raises(HintError, match="has no colour to give") as e:
        read_reference(tmp_path / "grey.png")
    assert "coloured by hand" in e.value.hint
    Image.fromarray(scene()).save(tmp_path / "colour.png")
    assert read_reference(tmp_path / "colour.png").shape == (96, 160, 3)


def test_the_reference_must_have_the_pictures_framing_but_any_size():
    check_reference_shape(Path("r.png"), np.zeros((48, 80, 3), np.uint8), 1280, 768)  # same aspect, other size
    with pytest.raises(HintError, match="a different shape from the 640x360 picture") as e:
        check_reference_shape(Path("r.png"), np.zeros((480, 640, 3), np.uint8), 640, 360)
    assert "crop the reference" in e.value.hint


def test_the_reference_is_in_the_work_folder_key(tmp_path):
    from conftest import make_clip
    from vidcolor.video.reader import probe

    src = make_clip(tmp_path / "film.mp4", frames=4)
    info = probe(src)
    Image.fromarray(scene()).save(tmp_path / "a.png")
    Image.fromarray(scene(seed=3)).save(tmp_path / "b.png")
    plain = RunOptions(input=src, output=tmp_path / "out.mp4")
    sets = [("a.png",), ("b.png",), ("a.png", "b.png"), ("b.png", "a.png")]
    keys = [identity(RunOptions(input=src, output=tmp_path / "out.mp4", references=tuple(tmp_path / n for n in names)), info)
            for names in sets]
    assert "references" not in identity(plain, info)["settings"]  # runs without one keep their old key
    assert len({str(k["settings"]["references"]) for k in keys}) == len(sets)  # each picture, and their order, count


# ------------------------------------------------------------------ the CLI: mistakes


def refused(tmp_path: Path, args: list[str]) -> str:
    source = tmp_path / "photo.png"
    Image.fromarray(scene()[..., 1]).save(source)
    digest = file_digest(source)
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["run", str(source), "-o", str(out), *args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "error:" in result.output
    assert not out.exists() and file_digest(source) == digest
    return " ".join(result.output.split())


def test_cli_refuses_a_reference_it_cannot_use(tmp_path):
    Image.fromarray(scene()).save(tmp_path / "ref.png")
    Image.fromarray(scene()[:, :96]).save(tmp_path / "narrow.png")
    Image.fromarray(scene()[..., 0]).convert("RGB").save(tmp_path / "grey.png")
    ref = str(tmp_path / "ref.png")
    assert "--reference gives colours to the natural colourization" in refused(tmp_path, ["--reference", ref, "--style", "ukiyoe"])
    assert "has no colour to give" in refused(tmp_path, ["--reference", str(tmp_path / "grey.png")])
    assert "a different shape from the 160x96 picture" in refused(tmp_path, ["--reference", str(tmp_path / "narrow.png")])
    assert "no such picture file" in refused(tmp_path, ["--reference", str(tmp_path / "nope.png")])
    # one bad picture among several is named
    assert "grey.png: the picture has no colour to give" in refused(tmp_path, ["--reference", ref, "--reference", str(tmp_path / "grey.png")])


# ------------------------------------------------------------------ the shipped weights, real pictures


def kodak_photo(shared_data: Path) -> np.ndarray:
    """kodim23 (parrots), (288, 288, 3) uint8 here."""
    source = shared_data / "photos" / "kodak24" / "kodim23.jpg"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    return np.asarray(Image.open(source).convert("RGB"))


def test_a_photo_with_its_colour_as_reference_comes_out_much_closer_to_it(tmp_path, shared_data):
    truth = kodak_photo(shared_data)[:256, :256]
    grey, ref = tmp_path / "grey.png", tmp_path / "ref.png"
    Image.fromarray(truth).convert("L").save(grey)
    Image.fromarray(truth).resize((192, 192), Image.BILINEAR).save(ref)  # a smaller copy: any size of the framing
    scores = {}
    for name, extra in {"auto": [], "reference": ["--reference", str(ref)]}.items():
        out = tmp_path / f"{name}.png"
        result = runner.invoke(app, ["run", str(grey), "-o", str(out), "-q", *extra])
        assert result.exit_code == 0, result.output
        scores[name] = psnr(np.asarray(Image.open(out).convert("RGB")) / 255.0, truth / 255.0)
    assert scores["reference"] > scores["auto"] + 3.0, scores


def pan_film(path: Path, photo: np.ndarray, frames: int = 8) -> list[np.ndarray]:
    """A grey FFV1 film at 25 frames/s panning 4 px a frame across ``photo``; returns its frames in
    colour, (224, 256, 3) uint8 each."""
    import av

    truth = [photo[16:16 + 224, 4 * t: 4 * t + 256] for t in range(frames)]
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 256, 224, "gray"
        for rgb in truth:
            luma = np.clip(0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2] + 0.5, 0, 255).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(luma, format="gray")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return truth


def run_film(src: Path, out: Path, *args: str) -> list[np.ndarray]:
    """`vidcolor run` on ``src`` (lossless); its frames (H, W, 3) float [0, 1]."""
    import av

    result = runner.invoke(app, ["run", str(src), "-o", str(out), "-q", "--codec", "ffv1", *args])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        return [f.to_ndarray(format="rgb24") / 255.0 for f in c.decode(video=0)]


def test_a_panning_film_takes_the_reference_colours_in_every_frame(tmp_path, shared_data):
    """A grey film that pans across a Kodak photo; the reference is its first frame in colour.
    Every frame, the later ones too, is closer to the truth than the automatic colour."""
    frames = pan_film(tmp_path / "pan.mkv", kodak_photo(shared_data))
    Image.fromarray(frames[0]).save(tmp_path / "ref.png")
    auto = run_film(tmp_path / "pan.mkv", tmp_path / "auto.mkv")
    ours = run_film(tmp_path / "pan.mkv", tmp_path / "ref.mkv", "--reference", str(tmp_path / "ref.png"))
    gains = [psnr(ours[t], truth / 255.0) - psnr(auto[t], truth / 255.0) for t, truth in enumerate(frames)]
    assert len(gains) == 8 and min(gains) > 1.0, gains


def test_points_tied_to_one_frame_of_a_pan_colour_every_frame(tmp_path, shared_data):
    """Twelve true colours picked on frame 4 (0.16 s) of the pan, given as ``--hint X,Y,COLOR@0.16``:
    that frame is coloured with them and followed through the shot, so every frame, before it too,
    is closer to the truth than automatic; the same points on every frame (a fixed camera's) are
    not, since the picture moves under them."""
    frames = pan_film(tmp_path / "pan.mkv", kodak_photo(shared_data))
    rng = np.random.default_rng(0)
    points = [(int(x), int(y)) for x, y in zip(rng.integers(8, 248, 12), rng.integers(8, 216, 12))]
    hints = [f"{x},{y},#" + "".join(f"{c:02x}" for c in frames[4][y, x]) for x, y in points]
    auto = run_film(tmp_path / "pan.mkv", tmp_path / "auto.mkv")
    tied = run_film(tmp_path / "pan.mkv", tmp_path / "tied.mkv", *sum((["--hint", f"{h}@0.16"] for h in hints), []))
    fixed = run_film(tmp_path / "pan.mkv", tmp_path / "fixed.mkv", *sum((["--hint", h] for h in hints), []))
    gain = {name: [psnr(out[t], truth / 255.0) - psnr(auto[t], truth / 255.0) for t, truth in enumerate(frames)]
            for name, out in (("tied", tied), ("fixed", fixed))}
    assert min(gain["tied"]) > 2.0, gain  # +2.9 to +3.1 here
    assert np.mean(gain["tied"]) > np.mean(gain["fixed"]) + 1.0, gain  # fixed: -0.2 on frame 0 .. +2.6, mean +1.3


# ------------------------------------------------------------------ long films: segments and resume


def test_a_segmented_film_resumes_with_its_reference_and_not_with_another(tmp_path):
    from conftest import make_clip

    from vidcolor.models.checkpoint import save_generator
    from vidcolor.models.generator import GeneratorConfig, build_generator
    from vidcolor.options import EncodeOptions, SegmentOptions, TemporalOptions
    from vidcolor.pipeline import run_video
    from vidcolor.workdir import work_folders

    config = GeneratorConfig(styles=("natural",), decoder=(16, 16, 8, 8, 8), pretrained=False, ab_head="bins", hints=True, hint_branch=True)
    weights = save_generator(tmp_path / "w" / "hinted.safetensors", build_generator(config, seed=0))
    src = make_clip(tmp_path / "film.mp4", frames=24)
    out = tmp_path / "out.mp4"
    for name, seed in (("a.png", 0), ("b.png", 3)):
        Image.fromarray(scene(48, 64, seed=seed)).save(tmp_path / name)

    def options(name: str) -> RunOptions:
        return RunOptions(input=src, output=out, weights=weights, backend="torch", device="cpu", model_height=32, quiet=True,
                          encode=EncodeOptions(crf=0, preset="ultrafast"), temporal=TemporalOptions(),
                          segments=SegmentOptions(target_frames=6), keep_work=True, overwrite=True, references=(tmp_path / name,))

    first = run_video(options("a.png"))
    assert first.segments > 1 and first.frames == 24
    again = run_video(options("a.png"))
    assert again.kept_segments == again.segments  # the same reference: every segment kept
    other = run_video(options("b.png"))
    assert other.kept_segments == 0 and len(work_folders(out)) == 1


@pytest.mark.parametrize("given", ["reference", "points on frame 0"])
def test_a_resumed_segment_with_a_reference_comes_out_as_it_did(tmp_path, given):
    """The colours carried from frame to frame start afresh with each segment, so a segment done again
    (its file lost) is the same file, whatever ran before it in the process; so does a reference made
    from frame 0 and --hint points tied to it (``@0``)."""
    import av

    from vidcolor.models.checkpoint import save_generator
    from vidcolor.models.generator import GeneratorConfig, build_generator
    from vidcolor.options import EncodeOptions, SegmentOptions, TemporalOptions
    from vidcolor.pipeline import run_video
    from vidcolor.workdir import work_folders

    config = GeneratorConfig(styles=("natural",), decoder=(16, 16, 8, 8, 8), pretrained=False, ab_head="bins", hints=True, hint_branch=True)
    weights = save_generator(tmp_path / "w" / "hinted.safetensors", build_generator(config, seed=0))
    src, out = tmp_path / "film.mkv", tmp_path / "out.mkv"
    with av.open(str(src), "w") as c:  # a slow pan over the reference's scene, grey, its exposure drifting up
        s = c.add_stream("ffv1", rate=25)  # (after a few frames only the carried colours match: reset or not shows)
        s.width, s.height, s.pix_fmt = 160, 96, "gray"
        for t in range(40):
            grey = np.asarray(Image.fromarray(scene(shift=t // 2)).convert("L")).astype(np.float32) + 2.0 * t
            grey = np.clip(grey, 0, 255).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(grey, format="gray")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    Image.fromarray(scene()).save(tmp_path / "ref.png")
    options = RunOptions(input=src, output=out, weights=weights, backend="torch", device="cpu", model_height=96, quiet=True,
                         encode=EncodeOptions(codec="ffv1"), temporal=TemporalOptions(),
                         segments=SegmentOptions(target_frames=6, warmup_frames=1), keep_work=True, overwrite=True,
                         references=(tmp_path / "ref.png",) if given == "reference" else (),
                         hints=() if given == "reference" else (parse_hint("40,40,#c03020@0"), parse_hint("120,50,#2040c0@0")))
    first = run_video(options)
    assert first.segments >= 4
    [folder] = work_folders(out)
    files = sorted(folder.glob("segment-*"))

    def pictures(path: Path) -> np.ndarray:
        with av.open(str(path)) as c:
            return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])

    before = pictures(files[3])  # frames 18-23: the reference alone no longer matches there
    files[3].unlink()
    again = run_video(options)
    assert again.kept_segments == again.segments - 1
    np.testing.assert_array_equal(pictures(files[3]), before)
