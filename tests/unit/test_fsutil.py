"""Unit tests for cnictl.fsutil: lock timeout, release on exceptions, shared locks, the re-linked check, and
atomic_write leaving no temporary file behind and the old content in place when it fails."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from cnictl.errors import TransientError
from cnictl.fsutil import acquire, atomic_write, locked


def _held_elsewhere(path: Path, op: int = fcntl.LOCK_EX) -> int:
    """A second open file description holding *op* on *path* (flock treats it as another holder)."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, op)
    return fd


def test_timeout_fires_with_transient_error(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    holder = _held_elsewhere(lock)
    try:
        start = time.monotonic()
        with pytest.raises(TransientError) as info, locked(lock, timeout=0.2, what="state lock"):
            pytest.fail("the body must not run while another holds the lock")
        elapsed = time.monotonic() - start
        assert 0.2 <= elapsed < 2.0
        text = info.value.one_line()
        assert str(lock) in text and "state lock" in text and "0.2s" in text and "retry" in text
        assert info.value.exit_code == 75 and info.value.cni_code == 11 and info.value.retryable
    finally:
        os.close(holder)
    with locked(lock, timeout=0.2):
        pass


def test_lock_released_on_exception(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / "lock"  # the directory is made on the way
    with pytest.raises(RuntimeError), locked(lock, timeout=1.0):
        raise RuntimeError("boom")
    probe = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise BlockingIOError if still held
    finally:
        os.close(probe)


def test_shared_locks_coexist_and_exclude_exclusive(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    holder = _held_elsewhere(lock, fcntl.LOCK_SH)
    try:
        with locked(lock, exclusive=False, timeout=0.2):
            pass
        with pytest.raises(TransientError), locked(lock, exclusive=True, timeout=0.1):
            pass
    finally:
        os.close(holder)


def test_no_timeout_blocks_until_released(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    holder = _held_elsewhere(lock)
    threading.Timer(0.2, os.close, (holder,)).start()
    start = time.monotonic()
    with locked(lock, timeout=None):
        assert time.monotonic() - start >= 0.15


def test_missing_directory_without_dir_mode(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        acquire(tmp_path / "gone" / "lock", dir_mode=None, timeout=0.1)
    assert not (tmp_path / "gone").exists()


def test_relinked_follows_a_replaced_lock_file(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    holder = _held_elsewhere(lock)
    got: list[object] = []

    def waiter() -> None:
        try:
            fd = acquire(lock, timeout=5.0, relinked=True)
        except Exception as exc:  # reported through `got`
            got.append(exc)
            return
        got.append(os.fstat(fd).st_ino)
        os.close(fd)

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.1)  # the waiter now polls the old file
    os.unlink(lock)
    os.close(holder)  # the waiter takes the old, unlinked file; it must notice and lock the new one
    thread.join(10)
    assert len(got) == 1 and got[0] == lock.stat().st_ino


def test_atomic_write_mode_content_and_no_temp(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        path = atomic_write(tmp_path / "d" / "conf.json", "new\n", 0o644, fsync=True)
    finally:
        os.umask(old)
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # exactly, whatever the umask
    assert os.listdir(path.parent) == ["conf.json"]
    atomic_write(path, b"bytes")
    assert path.read_bytes() == b"bytes"


def test_atomic_write_failure_keeps_old_content(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old\n")
    with pytest.raises(TypeError):
        atomic_write(path, 42)  # type: ignore[arg-type]
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["state.json"]


def test_atomic_write_replaces_a_stale_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "x"
    stale = tmp_path / f".x.{os.getpid()}.tmp"
    stale.write_text("half")
    atomic_write(path, "whole")
    assert path.read_text() == "whole" and not stale.exists()


def test_atomic_write_missing_directory_without_dir_mode(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "gone" / "x", "data", dir_mode=None)
    assert not (tmp_path / "gone").exists()
