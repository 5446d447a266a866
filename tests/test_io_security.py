"""Security and robustness of the checkpoint readers.

- Malicious pickles that would run ``os.system`` (touching a marker file) are
  refused by find_class before anything runs, in zip and legacy containers and
  through every opcode that names a global (GLOBAL, STACK_GLOBAL, INST, EXT).
- Pickles that try to mutate the allowed stand-ins (BUILD) are refused.
- Truncated or corrupt files raise CorruptCheckpointError, never anything else.
- Hypothesis mutates valid files (flip / truncate / insert / delete bytes): only
  refsim's CheckpointError family (or a successful read) may come out.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _ckpt_writer as cw  # noqa: E402
from strategies import mutated  # noqa: E402

from refsim.io import (  # noqa: E402
    CheckpointError,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    UnsupportedCheckpointError,
    load_checkpoint,
    load_state_dict,
    read_torch_legacy,
    read_torch_zip,
)
from refsim.io.torch_pickle import ALLOWED_GLOBALS  # noqa: E402

FUZZ_EXAMPLES = 150
FUZZ_DEADLINE_MS = 2000  # a hang or pathological slowness fails the test


def _system_pickle(marker: Path, opcode: str = "GLOBAL") -> bytes:
    """A protocol-2/4 pickle that calls os.system('touch <marker>') when loaded normally."""
    cmd = f"touch {marker}".encode()
    arg = b"X" + len(cmd).to_bytes(4, "little") + cmd
    if opcode == "GLOBAL":
        return b"\x80\x02cos\nsystem\n" + arg + b"\x85R."
    if opcode == "STACK_GLOBAL":
        return (b"\x80\x04\x8c\x02os\x8c\x06system\x93" + arg + b"\x85R.")
    if opcode == "INST":
        return b"(" + arg + b"ios\nsystem\n."
    raise ValueError(opcode)


def _wrap_zip(pkl: bytes, good: bytes | None = None) -> bytes:
    """Replace data.pkl in a valid zip checkpoint (CRC recomputed by zipfile)."""
    if good is None:
        good = cw.torch_zip_bytes(cw.ordered({"w": cw.dense("0", np.zeros(2, np.float32))}))
    src = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, pkl if info.filename.endswith("data.pkl") else src.read(info))
    return out.getvalue()


@pytest.mark.parametrize("opcode", ["GLOBAL", "STACK_GLOBAL", "INST"])
@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_os_system_is_refused_and_never_runs(tmp_path, opcode, container):
    marker = tmp_path / "pwned"
    evil = _system_pickle(marker, opcode)
    # sanity of the test itself: this pickle really is dangerous for pickle.loads
    assert b"system" in evil
    data = _wrap_zip(evil) if container == "zip" else cw.torch_legacy_bytes({}, main_pickle=evil)
    with pytest.raises(UnsafeCheckpointError, match="os.system"):
        load_state_dict(data)
    assert not marker.exists()


def test_the_marker_pickle_is_live(tmp_path):
    """Shows the check above can fail: the same bytes DO run under plain pickle."""
    marker = tmp_path / "live"
    pickle.loads(_system_pickle(marker))
    assert marker.exists()


def test_malicious_global_in_legacy_header_and_key_list(tmp_path):
    marker = tmp_path / "pwned"
    evil = _system_pickle(marker)
    good = cw.torch_legacy_bytes(cw.ordered({"w": cw.dense("0", np.ones(3, np.float32), legacy=True)}))
    with pytest.raises(UnsafeCheckpointError):  # evil pickle in place of the magic number
        read_torch_legacy(evil + good[len(pickle.dumps(cw.LEGACY_MAGIC, protocol=2)):])
    obj = cw.ordered({"w": cw.dense("0", np.ones(3, np.float32), legacy=True)})
    head = cw.torch_legacy_bytes(obj)
    main = cw.dumps(obj, cw._pid(True))
    start = head.index(main) + len(main)
    with pytest.raises(UnsafeCheckpointError):  # evil pickle in place of the storage key list
        read_torch_legacy(head[:start] + evil)
    assert not marker.exists()


def test_malicious_global_in_persistent_id_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    pid = cw.dumps(("storage", cw.G("os", "system"), "0", "cpu", 1))
    # BINPERSID on that tuple: strip the STOP and append the opcode
    evil = pid[:-1] + b"Q."
    with pytest.raises(UnsafeCheckpointError):
        read_torch_zip(_wrap_zip(evil))
    assert not marker.exists()


def test_extension_registry_goes_through_find_class(tmp_path):
    marker = tmp_path / "pwned"
    code = 0x7FFF_FFF0
    copyreg.add_extension("os", "system", code)
    try:
        cmd = f"touch {marker}".encode()
        evil = b"\x80\x02\x84" + code.to_bytes(4, "little") + b"X" + len(cmd).to_bytes(4, "little") + cmd + b"\x85R."
        with pytest.raises(UnsafeCheckpointError):
            read_torch_zip(_wrap_zip(evil))
    finally:
        copyreg.remove_extension("os", "system", code)
    assert not marker.exists()


def test_build_cannot_mutate_allowed_stand_ins():
    before = repr(ALLOWED_GLOBALS[("torch", "FloatStorage")])
    # GLOBAL torch FloatStorage; state {'itemsize': 0}; BUILD
    evil = b"\x80\x02ctorch\nFloatStorage\n}X\x08\x00\x00\x00itemsizeK\x00sb."
    with pytest.raises(UnsafeCheckpointError, match="set the state"):
        read_torch_zip(_wrap_zip(evil))
    evil_fn = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}X\x01\x00\x00\x00aK\x00sb."
    with pytest.raises(UnsafeCheckpointError):
        read_torch_zip(_wrap_zip(evil_fn))
    assert repr(ALLOWED_GLOBALS[("torch", "FloatStorage")]) == before


def test_rebuild_from_type_v2_refuses_other_callables():
    evil = cw.dumps(cw.Call(cw.G("torch._tensor", "_rebuild_from_type_v2"),
                            cw.G("collections", "OrderedDict"), cw.G("torch", "Tensor"), (), {}))
    with pytest.raises(UnsafeCheckpointError):
        read_torch_zip(_wrap_zip(evil))


# --- truncation and corruption -------------------------------------------------------


def _small_objects():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.integers(0, 9, size=5)
    zip_obj = {"state_dict": cw.ordered({"module.a": cw.dense("0", a), "module.b": cw.dense("1", b)}), "epoch": 1}
    leg_obj = {"state_dict": cw.ordered({"module.a": cw.dense("0", a, legacy=True),
                                         "module.b": cw.dense("1", b, legacy=True)})}
    return cw.torch_zip_bytes(zip_obj), cw.torch_legacy_bytes(leg_obj)


ZIP_BYTES, LEGACY_BYTES = _small_objects()


@pytest.mark.parametrize("data", [ZIP_BYTES, LEGACY_BYTES], ids=["zip", "legacy"])
def test_every_truncation_is_a_clean_error(data):
    load_state_dict(data)  # the intact file reads
    for cut in range(0, len(data) - 1, 7):
        with pytest.raises(CheckpointError):
            load_state_dict(data[:cut])


def test_legacy_storage_count_mismatch():
    obj = cw.ordered({"w": cw.dense("0", np.ones(4, np.float32), legacy=True)})
    data = bytearray(cw.torch_legacy_bytes(obj))
    pos = len(data) - 16 - 8  # int64 count before the 16 data bytes
    data[pos:pos + 8] = (5).to_bytes(8, "little")
    with pytest.raises(CorruptCheckpointError, match="holds 5 elements"):
        read_torch_legacy(bytes(data))


def test_storage_claiming_more_than_the_file_is_refused_before_allocation():
    huge = cw.Storage("0", "float32", b"")
    object.__setattr__(huge, "raw", b"\0" * 4)
    pkl = cw.dumps(cw.ordered({"w": cw.tensor(huge, 0, (1,), (1,))}),
                   lambda o: ("storage", cw.G("torch", "FloatStorage"), "0", "cpu", 10**15)
                   if isinstance(o, cw.Storage) else None)
    with pytest.raises(CorruptCheckpointError, match="more than the file"):
        read_torch_zip(_wrap_zip(pkl))


def test_compressed_zip_member_is_unsupported():
    src = zipfile.ZipFile(io.BytesIO(ZIP_BYTES))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with pytest.raises(UnsupportedCheckpointError, match="compressed"):
        load_state_dict(out.getvalue())


def test_crc_mismatch_in_storage_is_detected():
    data = bytearray(ZIP_BYTES)
    raw = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32).tobytes()
    pos = bytes(data).index(raw)
    data[pos] ^= 0xFF
    with pytest.raises(CorruptCheckpointError, match="CRC"):
        load_state_dict(bytes(data))


def test_garbage_and_empty_inputs():
    for data in (b"", b"hello world", b"\x80\x02K\x01.", b"PK\x03\x04" + b"\0" * 40):
        with pytest.raises(CheckpointError):
            load_checkpoint(data)


# --- hypothesis fuzzing ----------------------------------------------------------------


def _only_clean_errors(data: bytes) -> None:
    try:
        result = load_state_dict(data)
    except CheckpointError:
        return
    assert isinstance(result, dict) and all(isinstance(v, np.ndarray) for v in result.values())


@settings(max_examples=FUZZ_EXAMPLES, deadline=FUZZ_DEADLINE_MS,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated(ZIP_BYTES))
def test_fuzz_zip_checkpoint(data):
    _only_clean_errors(data)


@settings(max_examples=FUZZ_EXAMPLES, deadline=FUZZ_DEADLINE_MS,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated(LEGACY_BYTES))
def test_fuzz_legacy_checkpoint(data):
    _only_clean_errors(data)


PKL_BYTES = zipfile.ZipFile(io.BytesIO(ZIP_BYTES)).read("archive/data.pkl")


@settings(max_examples=FUZZ_EXAMPLES, deadline=FUZZ_DEADLINE_MS,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated(PKL_BYTES))
def test_fuzz_pickle_inside_valid_zip(pkl):
    """Mutates data.pkl itself (the zip CRC is recomputed) to exercise the unpickler."""
    _only_clean_errors(_wrap_zip(pkl, ZIP_BYTES))


def test_pickle_fuzz_base_is_valid():
    assert set(load_state_dict(_wrap_zip(PKL_BYTES, ZIP_BYTES))) == {"a", "b"}


def test_shared_subtrees_do_not_explode():
    """A pickle can reference one container many times through its memo."""
    leaf = cw.dense("0", np.ones(2, np.float32))
    d_list, d_dict = [leaf], {"w": leaf}
    for _ in range(40):  # 2**40 paths if walked naively (depth stays under MAX_NESTING_DEPTH)
        d_list, d_dict = [d_list, d_list], {"a": d_dict, "b": d_dict}
    data = cw.torch_zip_bytes({"l": d_list})
    assert len(data) < 10_000
    obj, _ = load_checkpoint(data)
    assert obj["l"][0] is obj["l"][1]  # sharing preserved, walked once
    with pytest.raises(CorruptCheckpointError, match="nested entries"):
        load_state_dict(cw.torch_zip_bytes(d_dict))
