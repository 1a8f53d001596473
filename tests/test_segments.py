"""Long films in segments: plan, join, resume after kill -9, workers, and what goes wrong.

Clips are synthetic (PyAV, 64x48) with hard scene cuts where wanted; the model is the tiny seeded
generator, run through --weights in subprocesses and worker processes. Lossless x264 (crf 0), so
decoded planes compare exactly.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import _write_audio, decoded_lumas, luma_pattern, packets_of, read_frames
from test_pipeline import LOSSLESS, planes, tiny_backend

from vidcolor.errors import ClusterError, OutputError
from vidcolor.models.checkpoint import save_generator
from vidcolor.models.generator import GeneratorConfig, build_generator
from vidcolor.options import RunOptions, SegmentOptions, TemporalOptions
from vidcolor.pipeline import run_video
from vidcolor.segments import Scan, plan_segments, warmup_frames
from vidcolor.workdir import MANIFEST, work_folders


def shots_clip(path: Path, shots: list[int], audio: bool = True, gop: int = 10, rate: int = 25, width: int = 64, height: int = 48) -> Path:
    """A (64x48) H.264 clip of ``shots`` (frames per shot); alternate shots are the inverted picture,
    so every shot change is a hard scene cut. One AAC track when ``audio``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(gop)}
        sound = out.add_stream("aac", rate=44100) if audio else None
        if sound is not None:
            sound.layout = "mono"
        index = 0
        for shot, count in enumerate(shots):
            for _ in range(count):
                y = luma_pattern(index, width, height)
                y = (251 - y).astype(np.uint8) if shot % 2 else y
                frame = av.VideoFrame(width, height, "yuv420p")
                grey = np.full((height // 2, width // 2), 128, np.uint8)
                for plane, values in zip(frame.planes, (y, grey, grey)):
                    np.frombuffer(plane, np.uint8).reshape(plane.height, -1)[:, : plane.width] = values
                frame.pts = index
                frame.time_base = Fraction(1, rate)
                for packet in stream.encode(frame):
                    out.mux(packet)
                index += 1
        for packet in stream.encode():
            out.mux(packet)
        if sound is not None:
            _write_audio(out, sound, index / rate, tone=440.0)
    return path


def seg_options(src: Path, out: Path, target: int = 100_000, **changes) -> RunOptions:
    base = dict(
        input=src, output=out, model_height=32, batch=4, quiet=True, temporal=TemporalOptions(), encode=LOSSLESS,
        segments=SegmentOptions(target_frames=target),
    )
    return RunOptions(**{**base, **changes})


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    return save_generator(tmp_path_factory.mktemp("weights") / "tiny.safetensors", build_generator(GeneratorConfig.tiny(), seed=0))


def assert_same_video(a: Path, b: Path, tolerance: int = 0) -> None:
    """Same frame count, time base and pts; every plane within ``tolerance`` code values."""
    (sa, fa), (sb, fb) = read_frames(a), read_frames(b)
    assert sb.time_base == sa.time_base and [f.pts for f in fb] == [f.pts for f in fa]
    for pa, pb in zip(planes(a), planes(b), strict=True):
        for x, y in zip(pa, pb, strict=True):
            assert np.abs(x.astype(int) - y.astype(int)).max() <= tolerance


def leftovers(folder: Path, *expected: Path) -> list[str]:
    """Files in ``folder`` other than ``expected`` (hidden ones included)."""
    return sorted(p.name for p in folder.iterdir() if p not in expected)


# ------------------------------------------------------------------ the plan


def scan_of(count: int, cuts=(), keys=()) -> Scan:
    return Scan(list(range(0, 2 * count, 2)), [i in keys for i in range(count)], [i in cuts for i in range(count)], 0, 0)


def test_plan_cuts_at_the_first_scene_cut_past_half_a_segment():
    plan = plan_segments(scan_of(100, cuts={3, 12, 30, 33, 70}), SegmentOptions(target_frames=20), warmup=5)
    assert [(s.start, s.end) for s in plan] == [(0, 12), (12, 30), (30, 70), (70, 100)]
    assert plan[1].first_pts == 2 * 7 and plan[1].keep_pts == 2 * 12 and plan[1].end_pts == 2 * 30
    assert plan[0].first_pts == 0 and plan[-1].end_pts is None


def test_plan_without_cuts_snaps_to_the_last_key_frame_and_keeps_the_last_segment_long():
    plan = plan_segments(scan_of(100, keys={0, 15, 30, 45, 60, 75, 90}), SegmentOptions(target_frames=20), warmup=0)
    assert [(s.start, s.end) for s in plan] == [(0, 30), (30, 60), (60, 100)]  # <= 40 frames, last >= 10
    no_keys = plan_segments(scan_of(100), SegmentOptions(target_frames=20), warmup=0)
    assert [s.frames for s in no_keys] == [40, 40, 20]


def test_plan_is_one_segment_when_pts_were_repaired_or_frames_damaged():
    for repaired, skipped in ((3, 0), (0, 1)):
        found = Scan(list(range(100)), [False] * 100, [i % 10 == 0 for i in range(100)], repaired, skipped)
        assert len(plan_segments(found, SegmentOptions(target_frames=10), 0)) == 1


def test_warmup_lasts_until_the_past_weighs_under_one_percent(tmp_path):
    o = seg_options(tmp_path / "a.mp4", tmp_path / "b.mp4")
    assert warmup_frames(o) == 21 and 0.8**21 < 0.01 < 0.8**20
    assert warmup_frames(seg_options(tmp_path / "a.mp4", tmp_path / "b.mp4", temporal=None)) == 0
    assert warmup_frames(seg_options(tmp_path / "a.mp4", tmp_path / "b.mp4", segments=SegmentOptions(warmup_frames=3))) == 3


# ------------------------------------------------------------------ segmented == single pass


@pytest.mark.parametrize("suffix", [".mp4", pytest.param(".mkv", marks=pytest.mark.slow)])
def test_segmented_run_matches_a_single_pass(tmp_path, suffix):
    src = shots_clip(tmp_path / "film.mp4", [14, 9, 15, 12])
    single, segmented = tmp_path / f"single{suffix}", tmp_path / f"segmented{suffix}"
    one = run_video(seg_options(src, single), backend=tiny_backend("natural"))
    many = run_video(seg_options(src, segmented, target=8), backend=tiny_backend("natural"))
    assert one.segments == 1 and many.segments == 4 and many.frames == one.frames == 50
    assert_same_video(single, segmented, tolerance=0)  # every seam is at a scene cut: exactly a single pass
    for a, b in zip(decoded_lumas(src), decoded_lumas(segmented), strict=True):
        np.testing.assert_array_equal(a, b)
    assert packets_of(segmented) == packets_of(single)  # audio muxed once, as a single pass does
    assert [[p[0] for p in t] for t in packets_of(segmented)] == [[p[0] for p in t] for t in packets_of(src)]
    assert leftovers(tmp_path, src, single, segmented) == []


def seams(path: Path, joins: list[int]) -> tuple[float, float]:
    """(largest colour change across a join, largest between neighbours inside a segment).

    Colour change of a frame pair: mean |difference| of the Cb and Cr planes, in code values."""
    chroma = np.stack([np.stack(p[1:]) for p in planes(path)]).astype(np.float32)
    change = np.abs(np.diff(chroma, axis=0)).mean(axis=(1, 2, 3))  # change[i]: frame i -> i + 1
    across = [change[j - 1] for j in joins]
    inside = [c for i, c in enumerate(change) if i + 1 not in joins]
    return max(across), max(inside)


def test_seams_at_forced_cuts_are_no_larger_than_changes_inside_a_segment(tmp_path):
    src = shots_clip(tmp_path / "one_shot.mp4", [60], audio=False, gop=12)
    out = tmp_path / "out.mp4"
    summary = run_video(seg_options(src, out, target=14, keep_work=True), backend=tiny_backend("natural"))
    manifest = json.loads((work_folders(out)[0] / MANIFEST).read_text())
    joins = [s["start"] for s in manifest["plan"][1:]]
    assert summary.segments >= 3 and joins
    across, inside = seams(out, joins)
    assert across <= inside
    single = tmp_path / "single.mp4"
    run_video(seg_options(src, single), backend=tiny_backend("natural"))
    assert_same_video(single, out, tolerance=1)  # the warm-up brings the carried colour within 1 code value


# ------------------------------------------------------------------ resume


RUNNER = """
import sys
from pathlib import Path
from vidcolor.options import EncodeOptions, RunOptions, SegmentOptions
from vidcolor.pipeline import run_video
src, out, weights, target, workers = sys.argv[1:6]
summary = run_video(RunOptions(
    input=Path(src), output=Path(out), weights=Path(weights), backend="torch", device="cpu", model_height=32,
    quiet=True, encode=EncodeOptions(crf=0, preset="ultrafast"), segments=SegmentOptions(target_frames=int(target)),
    workers=int(workers)))
print("kept", summary.kept_segments, "of", summary.segments)
"""


def start_run(tmp_path: Path, src: Path, out: Path, weights: Path, target: int, workers: int = 1) -> subprocess.Popen:
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    return subprocess.Popen([sys.executable, str(script), str(src), str(out), str(weights), str(target), str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished_entries(out: Path) -> dict[str, dict]:
    """The manifest's finished segments (index -> file, frames, bytes, sha256); {} before one."""
    folders = work_folders(out)
    if not folders or not (folders[0] / MANIFEST).exists():
        return {}
    return json.loads((folders[0] / MANIFEST).read_text())["finished"]


def finished_segments(out: Path) -> set[int]:
    return {int(k) for k in finished_entries(out)}


def wait_for(condition, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def kill_and_resume(tmp_path: Path, src: Path, weights: Path, kill_after: list[float]) -> tuple[Path, list[set[int]], str]:
    """Run, SIGKILL after each delay in ``kill_after`` (s after the first segment is recorded, or
    from the start when negative), then run to the end. Returns (output, finished sets seen after
    each kill, the last run's stdout)."""
    out = tmp_path / "out.mp4"
    seen: list[set[int]] = []
    for delay in kill_after:
        before = finished_segments(out)
        proc = start_run(tmp_path, src, out, weights, target=8)
        if delay >= 0:
            wait_for(lambda: finished_segments(out) - before or proc.poll() is not None)
        time.sleep(abs(delay))
        entries = finished_entries(out)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if out.exists():  # the run ended before the kill landed: success removed the work folder
            return out, seen, ""
        after = finished_segments(out)
        assert before <= after  # nothing finished was lost
        assert all(finished_entries(out)[k] == v for k, v in entries.items())  # nor redone
        in_progress = [p for folder in work_folders(out) for p in folder.glob(".segment-*.tmp*")]
        assert len(in_progress) <= 1  # the work a kill loses: the one segment being encoded
        seen.append(after)
        if out.exists():
            break
    proc = start_run(tmp_path, src, out, weights, target=8)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    return out, seen, stdout


def test_killed_run_resumes_from_its_finished_segments(tmp_path, tiny_weights):
    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10, 10])
    out, seen, stdout = kill_and_resume(tmp_path, src, tiny_weights, kill_after=[0.0])
    kept = len(seen[-1])
    assert 1 <= kept < 4 and f"kept {kept} of 4" in stdout
    reference = tmp_path / "reference.mp4"
    run_video(seg_options(src, reference, target=8, weights=tiny_weights, backend="torch", device="cpu"))
    assert_same_video(reference, out, tolerance=0)
    assert packets_of(out) == packets_of(src)
    assert leftovers(tmp_path, src, out, reference, tmp_path / "runner.py") == []


@pytest.mark.slow
def test_killed_at_random_points_ten_times_still_gives_the_uninterrupted_result(tmp_path, tiny_weights):
    shots = [9, 11, 10, 12, 10, 9, 11, 10, 12, 10, 9, 11, 10, 12, 9, 11] * 2  # enough segments for 10 kills on a fast machine
    src = shots_clip(tmp_path / "film.mp4", shots)
    rng = random.Random(11)
    # Half the kills at a random time from the start (during start-up, the scan or a segment),
    # half just after a segment was recorded.
    delays = [-rng.uniform(0.3, 1.5) if rng.random() < 0.5 else rng.uniform(0.0, 0.3) for _ in range(30)]
    out, seen, stdout = kill_and_resume(tmp_path, src, tiny_weights, kill_after=delays)
    assert len(seen) >= 10, f"only {len(seen)} kills landed before the run finished"
    assert not stdout or f"kept {len(seen[-1])} of {len(shots)}" in stdout
    reference = tmp_path / "reference.mp4"
    run_video(seg_options(src, reference, target=8, weights=tiny_weights, backend="torch", device="cpu"))
    assert_same_video(reference, out, tolerance=0)
    assert packets_of(out) == packets_of(src)
    assert leftovers(tmp_path, src, out, reference, tmp_path / "runner.py") == []


def keep_first_segments(tmp_path: Path, src: Path, out: Path, count: int) -> Path:
    """A work folder whose first ``count`` segments are finished, as a crash leaves it."""
    run_video(seg_options(src, out, target=8, keep_work=True), backend=tiny_backend("natural"))
    out.unlink()
    folder = work_folders(out)[0]
    manifest = json.loads((folder / MANIFEST).read_text())
    for key in list(manifest["finished"])[count:]:
        (folder / manifest["finished"].pop(key)["file"]).unlink()
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_resume_says_what_it_kept_and_a_changed_setting_starts_afresh(tmp_path):
    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10, 10])
    out = tmp_path / "out.mp4"
    keep_first_segments(tmp_path, src, out, 2)
    summary = run_video(seg_options(src, out, target=8), backend=tiny_backend("natural"))
    assert summary.kept_segments == 2 and "kept 2 of 4 segments (20 of 40 frames)" in summary.notes[0]
    assert work_folders(out) == []
    out.unlink()
    keep_first_segments(tmp_path, src, out, 2)
    changed = run_video(seg_options(src, out, target=8, temporal=TemporalOptions(strength=0.5)), backend=tiny_backend("natural"))
    assert changed.kept_segments == 0
    assert "starting afresh (settings changed: temporal" in changed.notes[0] and "2 finished segment(s)" in changed.notes[0]


def test_no_resume_discards_and_stale_temporaries_are_removed(tmp_path):
    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10])
    out = tmp_path / "out.mp4"
    folder = keep_first_segments(tmp_path, src, out, 1)
    stale = tmp_path / ".out.1234abcd.tmp.mp4"  # what a kill -9 of a single pass leaves
    stale.write_bytes(b"half a film")
    (folder / ".segment-00001.5678abcd.tmp.mov").write_bytes(b"half a segment")
    summary = run_video(seg_options(src, out, target=8, resume=False), backend=tiny_backend("natural"))
    assert summary.kept_segments == 0 and "--no-resume" in summary.notes[0]
    assert leftovers(tmp_path, src, out) == []


def test_deleted_segment_file_is_done_again(tmp_path):
    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10])
    out = tmp_path / "out.mp4"
    folder = keep_first_segments(tmp_path, src, out, 2)
    (folder / "segment-00000.mov").unlink()
    summary = run_video(seg_options(src, out, target=8), backend=tiny_backend("natural"))
    assert summary.kept_segments == 1 and any("segment 1's file was deleted" in n for n in summary.notes)
    reference = tmp_path / "reference.mp4"
    run_video(seg_options(src, reference, target=8), backend=tiny_backend("natural"))
    assert_same_video(reference, out)


@pytest.mark.parametrize("content, message", [
    ("{not json", "is unreadable"),
    (json.dumps({"something": "else"}), "not a vidcolor work manifest"),
    ("FOREIGN", "belongs to another input or other settings"),
])
def test_corrupt_or_foreign_manifest_is_refused_and_nothing_is_deleted(tmp_path, content, message):
    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10])
    out = tmp_path / "out.mp4"
    folder = keep_first_segments(tmp_path, src, out, 2)
    manifest = json.loads((folder / MANIFEST).read_text())
    if content == "FOREIGN":
        manifest["identity"]["settings"]["style"] = "ukiyoe"
        content = json.dumps(manifest)
    (folder / MANIFEST).write_text(content)
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(OutputError, match=message) as error:
        run_video(seg_options(src, out, target=8), backend=tiny_backend("natural"))
    assert "--no-resume" in error.value.hint
    assert sorted(p.name for p in folder.iterdir()) == before and not out.exists()


# ------------------------------------------------------------------ a disk that fills, a folder that is read-only


@pytest.fixture
def small_disk(tmp_path):
    """A 20 MiB tmpfs at tmp_path/disk (needs root); yields (folder, remount(options))."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")

    def remount(option: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{option}", str(folder)], check=True)

    try:
        yield folder, remount
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.slow
def test_disk_full_during_a_segment_keeps_the_finished_ones(tmp_path, small_disk):
    folder, remount = small_disk
    src = shots_clip(tmp_path / "film.mp4", [12] * 8, audio=False)
    out = folder / "out.mp4"
    measure = tmp_path / "measure.mp4"  # what the segments take
    run_video(seg_options(src, measure, target=8, keep_work=True), backend=tiny_backend("natural"))
    needed = sum(p.stat().st_size for p in work_folders(measure)[0].iterdir())
    remount(f"size={needed // 2 // 4096 * 4096}")  # fills half way through
    with pytest.raises(OutputError, match="disk is full") as error:
        run_video(seg_options(src, out, target=8), backend=tiny_backend("natural"))
    assert "run the same command again" in error.value.hint
    kept = finished_segments(out)
    assert kept and not out.exists()
    remount("size=20m")  # space freed
    summary = run_video(seg_options(src, out, target=8), backend=tiny_backend("natural"))
    assert summary.kept_segments == len(kept) and summary.frames == 96
    assert leftovers(folder, out) == []


def test_read_only_work_folder_is_a_clear_error(tmp_path, small_disk):
    folder, remount = small_disk
    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10])
    out = folder / "out.mp4"
    keep_first_segments(tmp_path, src, out, 1)
    remount("ro")
    with pytest.raises(OutputError, match="cannot write") as error:
        run_video(seg_options(src, out, target=8), backend=tiny_backend("natural"))
    assert "write" in error.value.hint
    remount("rw")
    assert finished_segments(out) == {0}


# ------------------------------------------------------------------ workers and Ray


@pytest.mark.slow  # two spawned processes importing torch: ~15 s here
def test_two_workers_give_the_same_film(tmp_path, tiny_weights):
    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10, 10])
    options = dict(weights=tiny_weights, backend="torch", device="cpu")
    alone, parallel = tmp_path / "alone.mp4", tmp_path / "parallel.mp4"
    run_video(seg_options(src, alone, target=8, **options))
    summary = run_video(seg_options(src, parallel, target=8, workers=2, **options))
    assert summary.segments == 4 and summary.frames == 40
    assert_same_video(alone, parallel)
    assert packets_of(parallel) == packets_of(src)


def test_ray_unreachable(tmp_path):
    pytest.importorskip("ray", reason="needs the ray package: pip install \"vidcolor[cluster]\"")
    import socket

    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10], audio=False)
    out = tmp_path / "out.mp4"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ClusterError, match="cannot be reached"):
        run_video(seg_options(src, out, target=8, ray=f"127.0.0.1:{port}"), backend=tiny_backend("natural"))
    assert not out.exists()


def test_ray_not_installed(tmp_path, monkeypatch):
    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10], audio=False)
    out = tmp_path / "out.mp4"
    monkeypatch.setitem(sys.modules, "ray", None)  # what Python does when the package is absent
    with pytest.raises(ClusterError, match="not installed") as error:
        run_video(seg_options(src, out, target=8, ray="auto"), backend=tiny_backend("natural"))
    assert "vidcolor[cluster]" in error.value.hint
    assert not out.exists()


@pytest.mark.ray
def test_segments_as_tasks_on_a_local_ray_cluster(tmp_path, tiny_weights):
    ray = pytest.importorskip("ray")
    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10, 10])
    options = dict(weights=tiny_weights, backend="torch", device="cpu")
    alone, on_ray = tmp_path / "alone.mp4", tmp_path / "ray.mp4"
    run_video(seg_options(src, alone, target=8, **options))
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        summary = run_video(seg_options(src, on_ray, target=8, ray="auto", **options))
    finally:
        ray.shutdown()
    assert summary.segments == 4
    assert_same_video(alone, on_ray)
    assert packets_of(on_ray) == packets_of(src)


def test_ctrl_c_says_which_segments_are_kept_and_the_rerun_continues_from_them(tmp_path, monkeypatch):
    import vidcolor.segments as segments
    from vidcolor.cli import errors_handled
    from vidcolor.errors import Interrupted

    src = shots_clip(tmp_path / "film.mp4", [10, 10, 10, 10])
    out = tmp_path / "out.mp4"
    real, calls = segments.encode_segment, []

    def interrupted_at_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(segments, "encode_segment", interrupted_at_the_third)
    with pytest.raises(Interrupted) as caught:
        run_video(seg_options(src, out, target=8), backend=tiny_backend("natural"))
    assert not out.exists() and "was not written; 2 of 4 segments are finished and kept in" in caught.value.message
    assert str(work_folders(out)[0]) in caught.value.message and "run the same command again" in caught.value.message
    import typer

    with pytest.raises(typer.Exit) as code:  # the CLI's handler: the message, exit code 130
        with errors_handled(debug=False):
            raise caught.value
    assert code.value.exit_code == 130
    monkeypatch.setattr(segments, "encode_segment", real)
    summary = run_video(seg_options(src, out, target=8), backend=tiny_backend("natural"))
    assert summary.kept_segments == 2 and out.exists()
