"""fetch(): a local http.server in a thread serves good, corrupt and truncated files.

Invariant under test: the final path only ever holds a file whose SHA-256
verified; failures leave no file there and no temporary ``.part`` file behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.server
import os
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _ckpt_writer as cw  # noqa: E402

import refsim.io.download as download  # noqa: E402
from refsim.io import ChecksumError, DownloadError, fetch, load_state_dict, sha256_file  # noqa: E402
from refsim.io.registry import CHECKPOINTS  # noqa: E402

GOOD = cw.torch_zip_bytes(cw.ordered({"w": cw.dense("0", np.arange(4096, dtype=np.float32))}))
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        if self.path == "/good.pth":
            body, length = GOOD, len(GOOD)
        elif self.path == "/corrupt.pth":
            body = bytearray(GOOD)
            body[len(body) // 2] ^= 0xFF
            body, length = bytes(body), len(GOOD)
        elif self.path == "/trickle.pth":  # one byte every 50 ms
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            try:
                for i in range(len(GOOD)):
                    self.wfile.write(GOOD[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass
            return
        elif self.path == "/nolength.pth":  # no Content-Length: the cap applies while reading
            self.send_response(200)
            self.end_headers()
            self.wfile.write(GOOD)
            self.close_connection = True
            return
        elif self.path == "/dropped.pth":  # announces the full length, sends half, closes
            body, length = GOOD[: len(GOOD) // 2], len(GOOD)
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fake_entry(monkeypatch):
    """A registry entry whose file is the small generated checkpoint."""
    base = CHECKPOINTS["cifar-resnet20"]
    entry = replace(base, name="test-tiny", url=f"https://example.invalid/tiny-{GOOD_SHA[:8]}.pth", sha256=GOOD_SHA)
    monkeypatch.setitem(CHECKPOINTS, "test-tiny", entry)
    return entry


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_fetch_good_file(server, fake_entry, tmp_path):
    path = fetch("test-tiny", tmp_path / "w", url=f"{server}/good.pth", progress=False)
    assert path == tmp_path / "w" / fake_entry.filename
    assert sha256_file(path) == GOOD_SHA
    np.testing.assert_array_equal(load_state_dict(path)["w"], np.arange(4096, dtype=np.float32))
    assert _leftovers(tmp_path / "w") == [fake_entry.filename]
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # as any new file (not a temporary file's 0600)
    # second call reuses the verified file (the bad URL is never contacted)
    assert fetch("test-tiny", tmp_path / "w", url=f"{server}/missing.pth", progress=False) == path


def test_fetch_prefix_only_hash(server, fake_entry, tmp_path, monkeypatch):
    monkeypatch.setitem(CHECKPOINTS, "test-tiny", replace(fake_entry, sha256=GOOD_SHA[:8]))
    assert fetch("test-tiny", tmp_path, url=f"{server}/good.pth", progress=False).is_file()


@pytest.mark.parametrize("name, error", [("corrupt.pth", ChecksumError), ("dropped.pth", DownloadError),
                                         ("missing.pth", DownloadError)])
def test_failed_download_leaves_nothing(server, fake_entry, tmp_path, name, error):
    with pytest.raises(error):
        fetch("test-tiny", tmp_path, url=f"{server}/{name}", progress=False)
    assert _leftovers(tmp_path) == []


def test_unverified_file_at_the_final_name_never_survives_a_failed_download(server, fake_entry, tmp_path):
    """The final name holds only verified files: a stale one is removed even when the download fails."""
    stale = tmp_path / fake_entry.filename
    stale.write_bytes(b"stale")
    with pytest.raises(ChecksumError):
        fetch("test-tiny", tmp_path, url=f"{server}/corrupt.pth", progress=False)
    assert _leftovers(tmp_path) == []
    stale.write_bytes(b"stale")
    fetch("test-tiny", tmp_path, url=f"{server}/good.pth", progress=False)  # stale file replaced
    assert sha256_file(stale) == GOOD_SHA


def test_trickling_server_trips_the_overall_deadline(server, fake_entry, tmp_path):
    """One byte every 50 ms never trips the per-read timeout; the deadline stops it."""
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=r"deadline_s=0\.5"):
        fetch("test-tiny", tmp_path, url=f"{server}/trickle.pth", progress=False, timeout_s=5, deadline_s=0.5)
    assert time.monotonic() - t0 < 4
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["good.pth", "nolength.pth"])
def test_size_cap(server, fake_entry, tmp_path, name):
    with pytest.raises(DownloadError, match="max_bytes=1000"):
        fetch("test-tiny", tmp_path, url=f"{server}/{name}", progress=False, max_bytes=1000)
    assert _leftovers(tmp_path) == []
    assert fetch("test-tiny", tmp_path, url=f"{server}/{name}", progress=False, max_bytes=len(GOOD)).is_file()


def test_stale_part_files_are_cleaned_but_live_ones_kept(server, fake_entry, tmp_path):
    stale = tmp_path / f".{fake_entry.filename}.abc123.part"
    stale.write_bytes(b"left by a killed fetch")
    live = tmp_path / f".{fake_entry.filename}.live99.part"
    live.write_bytes(b"being written")
    other = tmp_path / ".other.pth.xyz.part"
    other.write_bytes(b"another target")
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as a running download holds it
        fetch("test-tiny", tmp_path, url=f"{server}/good.pth", progress=False)
        assert not stale.exists() and live.exists() and other.exists()


def test_interrupt_midway_removes_temporary_file(server, fake_entry, tmp_path, monkeypatch):
    class Boom(Exception):
        pass

    def explode(*args, **kwargs):
        raise Boom

    monkeypatch.setattr(download.os, "replace", explode)
    with pytest.raises(Boom):
        fetch("test-tiny", tmp_path, url=f"{server}/good.pth", progress=False)
    assert _leftovers(tmp_path) == []


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown checkpoint 'nope'.*cifar-resnet20"):
        fetch("nope", "unused")
