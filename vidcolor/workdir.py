"""The work folder of a segmented run: where finished segments wait, and the manifest that lists them.

The folder sits beside the output, hidden: ``.NAME.vidcolor-KEY`` where KEY hashes the input's
identity (path, size, mtime, a checksum of its first and last MiB) and every setting that changes
pixels (``identity``). The same command after a crash finds the same folder and keeps what it
finished; a changed input or setting gives another KEY, and the old folder is removed with a note
saying what changed. One run at a time holds a folder (an flock on ``lock``, freed by the kernel
when the process dies).

``manifest.json`` is rewritten atomically (temporary file, fsync, ``os.replace``) after each
finished segment; an entry is trusted only if its file still has the recorded size and sha256.
"""
from __future__ import annotations

import errno
import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vidcolor.errors import OutputError
from vidcolor.files import file_sha256, write_atomically
from vidcolor.options import RunOptions
from vidcolor.video.reader import VideoInfo
from vidcolor.video.writer import fcntl, glob_escape

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
_EDGE_BYTES = 1 << 20  # the input's first and last MiB go into its identity


def identity(options: RunOptions, info: VideoInfo) -> dict[str, Any]:
    """What the finished segments depend on: the input file and every pixel-changing setting.

    Not included (they change speed, not pixels): batch, workers, ray, quiet, overwrite,
    engine_dir. The backend and device are included: their arithmetic differs slightly.
    """
    path = Path(options.input).resolve()
    stat = path.stat()
    weights = Path(options.weights).resolve() if options.weights else None
    return {
        "input": {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "edges_sha256": _edges_digest(path, stat.st_size)},
        "settings": {
            "style": options.style, "backend": options.backend, "device": options.device, "model_height": options.model_height,
            "temporal": asdict(options.temporal) if options.temporal else None,
            "encode": {k: v for k, v in asdict(options.encode).items() if k != "threads"},
            "weights": {"path": str(weights), "sha256": file_sha256(weights)} if weights else _shipped_digest(options),
            "user_styles": _user_style_digests(options),
            "segments": asdict(options.segments),
            "black_borders": getattr(options, "black_borders", None),
            "vividness": getattr(options, "vividness", None),
            "strength": getattr(options, "strength", 1.0),
            "video_stream": info.stream_index,
            # only when given: the folders of runs without hints keep the key they had before hints existed
            **({"hints": [str(h) for h in options.hints]} if getattr(options, "hints", ()) else {}),
            **({"references": [file_sha256(Path(p)) for p in options.references]} if getattr(options, "references", ()) else {}),
        },
    }


def _shipped_digest(options: RunOptions) -> dict[str, str] | None:
    """The shipped weights' checksum: a vidcolor upgrade with new weights must not resume old segments."""
    from vidcolor.blend import blend_weights_file, parse_blend
    from vidcolor.errors import StyleError

    try:
        path = blend_weights_file(parse_blend(options.style, options.styles_dir), None, options.styles_dir)
    except StyleError:  # no weights ship for it: the run was given a backend of its own
        return None
    return {"shipped": path.name, "sha256": file_sha256(path)}


def _user_style_digests(options: RunOptions) -> dict[str, str]:
    """name -> file checksum of each user style the run uses (a style learnt again must not resume)."""
    from vidcolor.blend import parse_blend
    from vidcolor.styles import STYLES
    from vidcolor.userstyles import find_user_style

    styles = [find_user_style(name, options.styles_dir) for name in parse_blend(options.style, options.styles_dir) if name not in STYLES]
    return {style.name: file_sha256(style.path) for style in styles if style is not None}


def _edges_digest(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        digest.update(f.read(_EDGE_BYTES))
        f.seek(max(0, size - _EDGE_BYTES))
        digest.update(f.read(_EDGE_BYTES))
    return digest.hexdigest()


def work_key(ident: dict[str, Any]) -> str:
    """12 hex digits of the sha256 of the identity (canonical JSON)."""
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]


def work_folders(output: Path) -> list[Path]:
    """Every work folder of ``output`` (of this or other settings)."""
    output = Path(output)
    return sorted(p for p in output.parent.glob(f".{glob_escape(output.name)}.vidcolor-*") if p.is_dir())


def describe_os_error(e: OSError, what: str, folder: Path) -> OutputError:
    """An OSError met while writing ``what`` as an OutputError with the right hint."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return OutputError(f"the disk is full: cannot write {what}", f"free space in {folder} and run the same command again; finished segments are kept")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return OutputError(f"cannot write {what}: {e.strerror}", f"make {folder} writable, or choose an --output in a folder you can write to")
    return OutputError(f"cannot write {what}: {e.strerror or e}", "check the output folder and run the same command again")


class WorkFolder:
    """One segmented run's folder; use ``WorkFolder.open`` and ``with``. ``notes`` says what was
    kept or discarded, for the user."""

    def __init__(self, path: Path, ident: dict[str, Any]) -> None:
        self.path = path
        self.identity = ident
        self.notes: list[str] = []
        self.plan: list[dict] | None = None  # segments as dicts, once planned
        self.finished: dict[int, dict] = {}  # segment index -> {"file", "frames", "bytes", "sha256"}
        self._lock = None

    @classmethod
    def open(cls, options: RunOptions, info: VideoInfo) -> WorkFolder:
        """Find or create the folder for these options, lock it and read its manifest.

        Raises OutputError when the folder cannot be written, another run holds it, or its
        manifest is unreadable or belongs to something else (nothing is deleted then).
        """
        ident = identity(options, info)
        output = Path(options.output)
        work = cls(output.with_name(f".{output.name}.vidcolor-{work_key(ident)}"), ident)
        work._discard_others(output, fresh=not options.resume)
        try:
            work.path.mkdir(exist_ok=True)
            work._take_lock()
        except OSError as e:
            raise describe_os_error(e, f"the work folder {work.path}", output.parent) from None
        work._read_manifest()
        work._remove_stale_files()
        return work

    def __enter__(self) -> WorkFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def remove(self) -> None:
        """Delete the folder and everything in it (after success)."""
        self.release()
        shutil.rmtree(self.path, ignore_errors=True)

    def segment_path(self, index: int, suffix: str) -> Path:
        return self.path / f"segment-{index:05d}{suffix}"

    # -------------------------------------------------------------- the manifest

    def save(self) -> None:
        manifest = {
            "vidcolor_work": MANIFEST_VERSION, "identity": self.identity, "plan": self.plan,
            "finished": {str(k): v for k, v in sorted(self.finished.items())},
        }
        try:
            write_atomically(self.path / MANIFEST, json.dumps(manifest, indent=1).encode())
        except OSError as e:
            raise describe_os_error(e, f"the manifest in {self.path}", self.path.parent) from None

    def record(self, index: int, file: Path, frames: int) -> dict:
        """Note segment ``index`` as finished (its file complete at ``file``) and save the manifest."""
        entry = {"file": file.name, "frames": frames, "bytes": file.stat().st_size, "sha256": file_sha256(file)}
        self.finished[index] = entry
        self.save()
        return entry

    def verified(self, index: int) -> bool:
        """True when segment ``index`` is finished and its file is intact; a missing or changed
        file is forgotten (with a note) so the segment is done again."""
        entry = self.finished.get(index)
        if entry is None:
            return False
        file = self.path / entry["file"]
        if not file.is_file():
            self.notes.append(f"segment {index + 1}'s file was deleted: doing it again")
        elif file.stat().st_size != entry["bytes"] or file_sha256(file) != entry["sha256"]:
            self.notes.append(f"segment {index + 1}'s file does not match its checksum: doing it again")
        else:
            return True
        del self.finished[index]
        file.unlink(missing_ok=True)
        return False

    def _read_manifest(self) -> None:
        file = self.path / MANIFEST
        if not file.exists():
            return
        hint = f"run with --no-resume to start afresh (this discards the folder), or remove {self.path}"
        try:
            manifest = json.loads(file.read_text())
            if not isinstance(manifest, dict) or manifest.get("vidcolor_work") != MANIFEST_VERSION:
                raise ValueError("not a vidcolor work manifest")
            finished = {int(k): dict(v) for k, v in manifest["finished"].items()}
            plan = manifest["plan"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise OutputError(f"the manifest in {self.path} is unreadable ({e})", hint) from None
        if manifest.get("identity") != self.identity:
            raise OutputError(f"the manifest in {self.path} belongs to another input or other settings", hint)
        self.plan, self.finished = plan, finished

    # -------------------------------------------------------------- housekeeping

    def _take_lock(self) -> None:
        self._lock = open(self.path / "lock", "a")  # noqa: SIM115 - held for the run
        if fcntl is None:
            return
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise OutputError(f"another vidcolor run is working on {self.path}", "wait for it to finish, or write to another --output") from None

    def _discard_others(self, output: Path, fresh: bool) -> None:
        """Remove the work folders of earlier settings (and, with ``fresh``, this one's too)."""
        for folder in work_folders(output):
            if folder == self.path and not fresh:
                continue
            if _locked(folder):
                continue  # a live run's: not ours to touch
            kept = _finished_count(folder)
            if folder == self.path:
                why = "--no-resume"
            else:
                why = _what_changed(folder, self.identity)
            if kept:
                self.notes.append(f"starting afresh ({why}): {kept} finished segment(s) of the earlier run discarded")
            shutil.rmtree(folder, ignore_errors=True)

    def _remove_stale_files(self) -> None:
        """Temporary files of a crashed run (segments being encoded, a manifest being written)."""
        finished = {entry["file"] for entry in self.finished.values()}
        for file in self.path.iterdir():
            if file.name.startswith(".") and ".tmp" in file.name:
                file.unlink(missing_ok=True)  # we hold the folder's lock: nobody else writes here
            elif file.name.startswith("segment-") and file.name not in finished:
                file.unlink(missing_ok=True)  # renamed into place but never recorded


def _locked(folder: Path) -> bool:
    if fcntl is None or not (folder / "lock").exists():
        return False
    with open(folder / "lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True


def _read(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        return manifest if isinstance(manifest, dict) else {}
    except (OSError, ValueError):
        return {}


def _finished_count(folder: Path) -> int:
    finished = _read(folder).get("finished")
    return len(finished) if isinstance(finished, dict) else 0


def _what_changed(folder: Path, current: dict[str, Any]) -> str:
    """'input changed' or 'settings changed: style natural -> ukiyoe, ...' from the folder's manifest."""
    earlier = _read(folder).get("identity")
    if not isinstance(earlier, dict):
        return "an earlier run's manifest is unreadable"
    if earlier.get("input") != current["input"]:
        return "the input file changed"
    before, now = earlier.get("settings") or {}, current["settings"]
    changed = [f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
    return "settings changed: " + ", ".join(changed) if changed else "settings changed"
