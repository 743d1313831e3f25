"""Report files that are whole or absent.

A report file is written to a temporary name in its own folder, flushed to disk and renamed over
the old one, so a reader sees the previous file or the new one, never a torn one. A set of files
(the drift report) is written in two steps: every temporary file first (a full disk stops the run
here, the previous set untouched), then the renames, the manifest last. The manifest
(``drift.complete.json``) names the run and each file's sha256: a reader that finds it, with every
file matching, holds one complete set; no manifest, or a file that does not match, is a set being
replaced. A folder is locked for the run with ``fcntl.flock`` on a lock file inside it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO

MANIFEST = "drift.complete.json"
LOCK = ".releasegate.lock"


def _temp(path: Path, data: bytes) -> Path:
    """data in a new file beside path (same file system, so the rename is atomic), on disk."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder; the renames are done all the same
        pass
    finally:
        os.close(fd)


def write_file(path: Path, text: str) -> None:
    """Replace path with text atomically (temporary name, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp(path, text.encode("utf-8"))
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def write_set(folder: Path, texts: dict[str, str], run_id: str) -> None:
    """Replace a set of files in folder so that a reader can tell a complete set: every file
    written to a temporary name first (any OSError leaves the previous set as it was), then the
    old manifest removed, the files renamed, and the new manifest renamed in last."""
    data = {name: text.encode("utf-8") for name, text in texts.items()}
    manifest = {"run_id": run_id, "complete": True,
                "files": {name: hashlib.sha256(blob).hexdigest() for name, blob in data.items()}}
    data[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    temps: dict[str, Path] = {}
    try:
        for name, blob in data.items():
            temps[name] = _temp(folder / name, blob)
        (folder / MANIFEST).unlink(missing_ok=True)
        _sync_dir(folder)
        for name in texts:
            os.replace(temps.pop(name), folder / name)
        os.replace(temps.pop(MANIFEST), folder / MANIFEST)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    _sync_dir(folder)


def complete_set(folder: Path) -> dict | None:
    """The manifest of folder's report set when every file it names matches it, else None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        for name, digest in manifest["files"].items():
            if hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return manifest


class FolderBusy(Exception):
    """Another process holds the folder's lock."""

    def __init__(self, folder: Path, holder: str) -> None:
        super().__init__(f"{folder} is being written by another run ({holder})")
        self.folder, self.holder = folder, holder


def lock_folder(folder: Path) -> IO[str]:
    """Hold folder's lock for this process (release with unlock_folder), or raise FolderBusy
    at once naming the holder's pid: a second run never waits behind a first that may hang."""
    handle = os.fdopen(os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644), "r+",
                       encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.seek(0)
        holder = handle.read().strip() or "pid unknown"
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise FolderBusy(folder, holder) from None
        raise
    handle.seek(0)
    handle.write(f"pid {os.getpid()}\n")
    handle.truncate()
    handle.flush()
    return handle


def unlock_folder(handle: IO[str]) -> None:
    """Release a lock_folder lock (the lock file stays: removing it would race a new holder)."""
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
