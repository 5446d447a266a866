"""PyTorch checkpoint readers: real legacy files and zip files, against torch.load.

Oracles, strongest first: ``torch.load(weights_only=True)`` tensor by tensor,
bit-exact (skipped without torch); the real pretrained CIFAR checkpoints' key
names and shapes (skipped without the shared data); torch-free files written by
tests/_ckpt_writer.py compared with the arrays they were made from.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _ckpt_writer as cw  # noqa: E402

from refsim.io import (  # noqa: E402
    CorruptCheckpointError,
    load_checkpoint,
    load_state_dict,
    read_torch_legacy,
    read_torch_zip,
)

DATA = Path(os.environ.get("REFSIM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
WEIGHTS = DATA / "weights"
RESNET20 = WEIGHTS / "resnet20-12fca82f.th"
RESNET56 = WEIGHTS / "resnet56-4bfd9763.th"
needs_data = pytest.mark.skipif(not RESNET20.is_file(), reason=f"shared checkpoints not found under {WEIGHTS} "
                                "(set REFSIM_DATA to the data folder)")


def _torch():
    return pytest.importorskip("torch", reason="torch not installed: the cross-check against torch.load is skipped")


def _assert_same(ours: np.ndarray, theirs) -> None:
    """Bit-exact equality with a torch tensor (bfloat16 compared after widening to float32)."""
    torch = sys.modules["torch"]
    if theirs.dtype == torch.bfloat16:
        theirs = theirs.float()
    expected = theirs.numpy()
    assert ours.shape == expected.shape
    assert ours.dtype == expected.dtype
    assert ours.flags.c_contiguous and ours.flags.writeable
    np.testing.assert_array_equal(ours, expected)


# --- the real legacy checkpoints ---------------------------------------------------


@needs_data
@pytest.mark.parametrize("path, n_blocks", [(RESNET20, 3), (RESNET56, 9)])
def test_real_cifar_checkpoint_keys_and_shapes(path, n_blocks):
    sd = load_state_dict(path)
    assert sd["conv1.weight"].shape == (16, 3, 3, 3)
    assert sd["conv1.weight"].dtype == np.float32
    assert sd["linear.weight"].shape == (10, 64)
    assert sd["linear.bias"].shape == (10,)
    assert sd[f"layer3.{n_blocks - 1}.conv2.weight"].shape == (64, 64, 3, 3)
    assert f"layer3.{n_blocks}.conv1.weight" not in sd
    assert not any(k.startswith("module.") for k in sd)
    # 3 stages x n blocks x (2 conv + 2 BN x 4 tensors) + stem conv + BN + linear
    assert len(sd) == 3 * n_blocks * (2 + 2 * 4) + 1 + 4 + 2
    # running variances of a trained network are positive
    assert all(np.all(v > 0) for k, v in sd.items() if k.endswith("running_var"))


@needs_data
def test_real_checkpoint_raw_object_keeps_metadata_and_prefix():
    obj = read_torch_legacy(RESNET20)
    assert set(obj) == {"best_prec1", "state_dict"}
    assert isinstance(obj["best_prec1"], float)
    assert all(k.startswith("module.") for k in obj["state_dict"])
    assert load_state_dict(RESNET20, strip_prefix=None).keys() == obj["state_dict"].keys()


@needs_data
@pytest.mark.parametrize("path", [RESNET20, RESNET56])
def test_real_checkpoint_matches_torch_load(path):
    torch = _torch()
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    ours = read_torch_legacy(path)
    assert ours["best_prec1"] == theirs["best_prec1"]
    assert list(ours["state_dict"]) == list(theirs["state_dict"])
    for key, value in theirs["state_dict"].items():
        _assert_same(ours["state_dict"][key], value)


# --- zip files written by torch.save ---------------------------------------------


def _torch_save_bytes(obj) -> bytes:
    torch = sys.modules["torch"]
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_torch_zip_all_dtypes_and_views_match_torch_load():
    torch = _torch()
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(6, 8, generator=gen)
    sd = {
        "f32": base.clone(),
        "f64": torch.randn(3, 2, generator=gen, dtype=torch.float64),
        "f16": torch.randn(5, generator=gen).half(),
        "bf16": torch.randn(2, 3, generator=gen).bfloat16(),
        "i64": torch.arange(-5, 7, dtype=torch.int64).reshape(3, 4),
        "i32": torch.arange(9, dtype=torch.int32),
        "u8": torch.arange(250, 256, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "transposed": base.t(),                       # non-contiguous
        "offset_slice": base[2:5, 1:7:2],             # storage offset + strides
        "row_of_base": base[3],                       # offset view of the storage of "transposed"
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
        "expanded": torch.ones(1, 3).expand(4, 3),    # stride 0
        "param": torch.nn.Parameter(torch.randn(2, 2, generator=gen)),
    }
    sd["view_of_f32"] = sd["f32"][1:, ::3]  # same storage as f32, saved once
    data = _torch_save_bytes({"state_dict": sd, "epoch": 7})
    theirs = torch.load(io.BytesIO(data), weights_only=True)
    ours = read_torch_zip(data)
    assert ours["epoch"] == 7
    assert list(ours["state_dict"]) == list(theirs["state_dict"])
    for key, value in theirs["state_dict"].items():
        _assert_same(ours["state_dict"][key], value.detach())


def test_torch_zip_module_state_dict_and_dataparallel_prefix():
    torch = _torch()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    wrapped = {f"module.{k}": v for k, v in model.state_dict().items()}
    for obj in (model.state_dict(), {"model": wrapped}, {"state_dict": wrapped, "optimizer_step": 3}):
        ours = load_state_dict(_torch_save_bytes(obj))
        assert list(ours) == list(model.state_dict())
        for key, value in model.state_dict().items():
            _assert_same(ours[key], value)


def test_torch_load_reads_the_test_writer_files():
    """Validates tests/_ckpt_writer.py itself against the real loader."""
    torch = _torch()
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    obj = cw.ordered({"a": cw.dense("0", a), "h": cw.dense("1", np.float32([1.5, -2.0, 0.25]), "bfloat16")})
    for data in (cw.torch_zip_bytes(obj), cw.torch_legacy_bytes(
            cw.ordered({"a": cw.dense("0", a, legacy=True)}))):
        theirs = torch.load(io.BytesIO(data), weights_only=True)
        ours, _ = load_checkpoint(data)
        for key, value in theirs.items():
            _assert_same(ours[key], value)


# --- torch-free checks -------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True])
def test_writer_round_trip_without_torch(legacy):
    rng = np.random.default_rng(2)
    arrays = {
        "w": rng.standard_normal((4, 3, 2)).astype(np.float32),
        "d": rng.standard_normal(5),
        "h": rng.standard_normal(6).astype(np.float16),
        "i": rng.integers(-2**40, 2**40, size=(2, 2)),
        "b": rng.random(7) > 0.5,
    }
    obj = cw.ordered({k: cw.dense(str(i), v, legacy=legacy) for i, (k, v) in enumerate(arrays.items())})
    data = cw.torch_legacy_bytes(obj) if legacy else cw.torch_zip_bytes(obj)
    out = load_state_dict(data)
    for key, value in arrays.items():
        assert out[key].dtype == value.dtype
        np.testing.assert_array_equal(out[key], value)


def test_bfloat16_widening_is_exact():
    # every bfloat16 bit pattern except NaNs: widening to float32 must equal (bits << 16)
    bits = np.arange(0, 1 << 16, dtype=np.uint32)
    values = (bits << 16).view(np.float32)
    finite = np.isfinite(values)
    obj = cw.ordered({"x": cw.dense("0", values[finite], "bfloat16")})
    out = load_state_dict(cw.torch_zip_bytes(obj))["x"]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.view(np.uint32), (bits[finite] << 16))


def test_strided_view_with_offset_without_torch():
    base = np.arange(30, dtype=np.float32)
    storage = cw.Storage("0", "float32", base.tobytes())
    obj = cw.ordered({"v": cw.tensor(storage, 3, (4, 3), (6, 2)), "all": cw.tensor(storage, 0, (30,), (1,))})
    out = load_state_dict(cw.torch_zip_bytes(obj))
    expected = np.array([[base[3 + 6 * i + 2 * j] for j in range(3)] for i in range(4)])  # naive loop
    np.testing.assert_array_equal(out["v"], expected)
    np.testing.assert_array_equal(out["all"], base)


def test_view_past_end_of_storage_is_refused():
    storage = cw.Storage("0", "float32", np.zeros(10, np.float32).tobytes())
    obj = cw.ordered({"v": cw.tensor(storage, 5, (3, 2), (2, 1))})  # last element 5 + 4 + 1 = 10
    with pytest.raises(CorruptCheckpointError, match="reaches element 10"):
        load_state_dict(cw.torch_zip_bytes(obj))


def test_zero_stride_inflation_is_bounded():
    storage = cw.Storage("0", "float32", np.zeros(1, np.float32).tobytes())
    obj = cw.ordered({f"t{i}": cw.tensor(storage, 0, (1 << 20,), (0,)) for i in range(4)})
    with pytest.raises(CorruptCheckpointError, match="expand"):
        load_state_dict(cw.torch_zip_bytes(obj))
