"""Positive controls: the hostile payloads are real, so the tests that refuse them prove something."""

from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import hostile

LIMIT = 64 * 1024 * 1024  # the handler's default MAX_OBJECT_BYTES

LOADERS: dict[str, tuple[Callable[[Path], bytes], Callable[[bytes], object]]] = {
    "pickle.loads of the .pkl canary": (hostile.pickled_canary, pickle.loads),
    "pickle.loads of the protocol-0 canary": (hostile.protocol0_canary, pickle.loads),
    "pickle.loads of the os.system canary": (hostile.shell_canary, pickle.loads),
    "joblib.load of the .joblib canary": (hostile.joblib_canary, lambda data: __import__("joblib").load(io.BytesIO(data))),
    "np.load(allow_pickle=True) of the object .npy canary": (
        hostile.object_npy_canary, lambda data: np.load(io.BytesIO(data), allow_pickle=True)),
}


@pytest.mark.parametrize("loader", LOADERS, ids=list(LOADERS))
def test_each_canary_fires_when_loaded_unsafely(loader: str, tmp_path: Path) -> None:
    # given a canary file and no marker yet
    make, load = LOADERS[loader]
    marker = tmp_path / "pwned"
    data = make(marker)
    assert not marker.exists()
    # when it is loaded the way the tutorial's handler loaded caller data
    load(data)
    # then the marker exists: so its absence in the handler tests means the handler never unpickled it
    assert marker.exists()


def test_the_declared_zip_bomb_really_inflates_past_the_limit() -> None:
    # given the 2 GiB bomb, about 2 MB on the wire
    data = hostile.declared_zip_bomb()
    assert len(data) < 4 * 1024 * 1024
    # when its member is opened and read up to just past the object limit
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (info,) = archive.infolist()
        with archive.open(info) as member:
            inflated = len(member.read(LIMIT + 1))
    # then it declares 2 GiB and really produces more than the handler will ever accept
    assert info.file_size > 2 * 1024**3 and inflated == LIMIT + 1


def test_the_lying_zip_bomb_declares_little_and_carries_gigabytes() -> None:
    # given the bomb whose headers lie about its size
    data = hostile.lying_zip_bomb()
    # when its headers are read
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (info,) = archive.infolist()
    # then it declares 4 KiB while its 2 MB deflate stream holds 2 GiB (1,000:1 is deflate's ceiling)
    assert info.file_size == 4096 and info.compress_size > 2 * 1024**3 // 1100


def test_the_many_member_zip_has_600k_entries_under_the_object_limit() -> None:
    data = hostile.many_member_zip()
    assert len(data) < LIMIT
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert len(archive.infolist()) == 600_000
