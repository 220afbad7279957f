"""All-or-nothing writing of the model folder, which never replaces a folder this tool did not write."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Everything `python -m training` writes into a model folder; a folder holding anything else is the user's.
MODEL_FILES = frozenset({"metadata.json", "model.npz", "test_features.npy", "test_labels.npy",
                         "confusion_matrix.png", "confused_pairs.png"})


class OutputError(Exception):
    """The output folder cannot be written, or may not be replaced."""


def is_model_folder(folder: Path) -> bool:
    """True when `folder` holds a metadata.json written by `python -m training` (its own fields, our model type)."""
    try:
        meta = json.loads((folder / "metadata.json").read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(meta, dict) and isinstance(meta.get("sha256"), str) and isinstance(meta.get("artifact"), str)
            and isinstance(meta.get("model"), dict) and meta["model"].get("type") == "pca-knn")


def _foreign(folder: Path) -> list[str]:
    """Entries of `folder` that no training run writes (sub-folders and links included), sorted."""
    names = []
    for entry in os.scandir(folder):
        if entry.name not in MODEL_FILES or not entry.is_file(follow_symlinks=False):
            names.append(entry.name + ("/" if entry.is_dir() else ""))
    return sorted(names)


def _probe_writable(folder: Path, flag: str, out: Path) -> None:
    # A real create-and-remove: os.access says yes to root on read-only mounts and ignores ACLs.
    probe = folder / f".{out.name}.probe-{secrets.token_hex(6)}"
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as exc:
        raise OutputError(f"cannot write to {flag} {out}: {folder} is not writable ({exc.strerror or exc})") from None


def check_out(out: Path, flag: str = "--out") -> Path:
    """Refuse, before any work, a target this tool may not replace or cannot write; returns it as an absolute path."""
    out = out.expanduser().resolve()  # a symlinked --out is written where it points, never replaced by a folder
    fix = "choose a new or empty folder, or move those files elsewhere"
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} {out} exists and is not a folder")
    if out.is_dir():
        try:
            foreign = _foreign(out)
        except OSError as exc:
            raise OutputError(f"cannot read {flag} {out}: {exc.strerror or exc}") from None
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise OutputError(f"{flag} {out} holds files that python -m training did not write ({shown}); "
                              f"nothing was changed: {fix}")
        if any(out.iterdir()) and not is_model_folder(out):
            raise OutputError(f"{flag} {out} is not a model folder written by python -m training (its metadata.json "
                              f"is missing or not ours); nothing was changed: {fix}")
        if out == Path.cwd().resolve():
            raise OutputError(f"{flag} {out} is the current folder, which cannot be swapped in one step; "
                              f"run from its parent with {flag} {out.name}")
        if os.path.ismount(out):
            raise OutputError(f"{flag} {out} is a mount point, which cannot be swapped; give a folder inside it")
    existing = out.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write to {flag} {out}: {existing} is not a folder")
    _probe_writable(existing, flag, out)
    return out


def _make_parents(folder: Path) -> list[Path]:
    """Create missing parents, returning the ones created (deepest last) so a failure can remove them again."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    made: list[Path] = []
    try:
        for path in reversed(missing):
            os.mkdir(path)
            made.append(path)
    except OSError:
        _undo(None, made)
        raise
    return made


def _remove_tree(path: Path) -> None:
    def writable_then_retry(function, name, _exc) -> None:  # a read-only model folder must still be removable
        os.chmod(os.path.dirname(name), 0o700)
        function(name)

    # `onexc` replaced `onerror` in Python 3.12; both get the failed call to retry.
    hook = {"onexc": writable_then_retry} if sys.version_info >= (3, 12) else {"onerror": writable_then_retry}
    shutil.rmtree(path, **hook)


@contextmanager
def atomic_dir(out: Path, flag: str = "--out") -> Iterator[Path]:
    """Yield a staging folder beside `out`; on success it replaces `out`, on any failure `out` is left as it was."""
    out = check_out(out, flag)
    created: list[Path] = []
    staging = out.parent / f".{out.name}.staging-{secrets.token_hex(6)}"
    try:
        created = _make_parents(out.parent)
        os.mkdir(staging)  # the umask's mode, as any folder the user makes; an existing --out's mode is kept below
    except OSError as exc:
        _undo(None, created)
        raise OutputError(f"cannot write to {flag} {out}: {exc.strerror or exc}") from None
    try:
        yield staging
        old = None
        if out.exists():
            os.chmod(staging, stat.S_IMODE(out.stat().st_mode))
            old = out.parent / f".{out.name}.old-{secrets.token_hex(6)}"
            os.rename(out, old)
        try:
            os.rename(staging, out)  # same folder, so atomic: readers see the old model or the new one
        except BaseException:
            if old is not None:
                os.rename(old, out)
            raise
        if old is not None:
            try:
                _remove_tree(old)
            except OSError as exc:  # the new model is in place; only the old copy's clean-up failed
                print(f"warning: wrote {out}, but could not remove the previous model at {old}: {exc}", file=sys.stderr)
    except OSError as exc:
        _undo(staging, created)
        raise OutputError(f"cannot write to {flag} {out}: {exc.strerror or exc}") from None
    except BaseException:
        _undo(staging, created)
        raise


def _undo(staging: Path | None, created: list[Path]) -> None:
    """Remove the staging folder and any parent folder this run created."""
    if staging is not None and staging.exists():
        _remove_tree(staging)
    for path in reversed(created):
        try:
            os.rmdir(path)
        except OSError:
            pass
