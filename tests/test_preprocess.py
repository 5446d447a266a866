"""Image loading and the ImageNet / CIFAR preprocessing.

torchvision cannot be installed beside torch 2.13 here, so its transform is
checked piece by piece:

- resize: PIL's output vs a naive NumPy oracle of PIL's antialiased bilinear
  filter (triangle kernel widened by the scale, uint8 rounding between the
  horizontal and vertical passes) and vs ``torch.nn.functional.interpolate(
  mode="bilinear", antialias=True)`` (torch's port of the same filter);
- output size: torchvision's truncation rule, as properties;
- centre crop: round-half-to-even offsets and zero padding, on images whose
  pixels encode their own coordinates;
- scaling/normalization: a per-pixel loop, and torch float32 ops.

Not checked (needs torchvision itself): the end-to-end bit pattern of
torchvision's float32 tensor; by construction refsim differs from it only by
float32 vs float64 rounding of the last two steps (<~1e-6).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from refsim.tools.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    center_crop,
    cifar_preprocess,
    imagenet_preprocess,
    load_image,
    resize_shorter_side,
    resized_shape,
    to_float_chw,
)

DATA = Path(os.environ.get("REFSIM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SAMPLES = sorted((DATA / "imagenet-samples").glob("*.JPEG"))
CIFAR = DATA / "cifar10" / "cifar10_test_subset.npz"

RESIZE_ORACLE_MAX_DIFF = 1          # uint8 levels: PIL quantizes its filter taps to fixed point
RESIZE_ORACLE_MAX_FRACTION = 0.02   # ... so a few pixels round the other way (1.2 % seen for 60->32)
RESIZE_TORCH_MAX_DIFF = 1.0         # torch's float output vs PIL's rounded uint8
NORMALIZE_FLOAT32_ATOL = 2e-6       # float32 (torchvision) vs float64 (refsim)


def _triangle_weights(n_in: int, n_out: int) -> np.ndarray:
    """Naive (n_out, n_in) matrix of PIL's antialiased bilinear filter, loops only."""
    scale = n_in / n_out
    filter_scale = max(scale, 1.0)
    weights = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo = max(int(center - filter_scale + 0.5), 0)
        hi = min(int(center + filter_scale + 0.5), n_in)
        for j in range(lo, hi):
            weights[i, j] = max(0.0, 1.0 - abs((j - center + 0.5) / filter_scale))
        weights[i] /= weights[i].sum()
    return weights


def _naive_resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Oracle of PIL's two-pass resize of a uint8 HWC image (horizontal pass first)."""
    out = img.astype(np.float64)
    if width != img.shape[1]:
        out = np.einsum("ox,yxc->yoc", _triangle_weights(img.shape[1], width), out)
        out = np.clip(np.floor(out + 0.5), 0, 255)
    if height != img.shape[0]:
        out = np.einsum("oy,yxc->oxc", _triangle_weights(img.shape[0], height), out)
        out = np.clip(np.floor(out + 0.5), 0, 255)
    return out


@pytest.mark.parametrize("shape, size", [((97, 131), 50), ((97, 131), 256), ((131, 97), 40), ((60, 60), 32)])
def test_resize_matches_naive_oracle_and_torch(shape, size):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    ours = np.asarray(resize_shorter_side(Image.fromarray(img), size)).astype(np.float64)
    assert ours.shape[:2] == resized_shape(*shape, size)
    oracle = _naive_resize(img, *ours.shape[:2])
    diff = np.abs(ours - oracle)
    assert diff.max() <= RESIZE_ORACLE_MAX_DIFF
    assert np.mean(diff > 0) <= RESIZE_ORACLE_MAX_FRACTION
    torch = pytest.importorskip("torch", reason="torch not installed: interpolate(antialias=True) cross-check skipped")
    theirs = torch.nn.functional.interpolate(
        torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)[None], size=ours.shape[:2],
        mode="bilinear", antialias=True, align_corners=False)[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - theirs).max() <= RESIZE_TORCH_MAX_DIFF


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4000), st.integers(1, 4000), st.integers(1, 600))
def test_resized_shape_rule(height, width, size):
    new_h, new_w = resized_shape(height, width, size)
    short, long = min(height, width), max(height, width)
    new_short, new_long = min(new_h, new_w) if short != size else size, max(new_h, new_w)
    if short == size:
        assert (new_h, new_w) == (height, width)
        return
    assert new_short == size
    assert (new_h <= new_w) == (height <= width) or new_h == new_w
    # truncation: new_long = floor(size * long / short)
    assert new_long <= size * long / short < new_long + 1


def _coordinate_image(height: int, width: int) -> Image.Image:
    rows = np.repeat(np.arange(height, dtype=np.uint8)[:, None], width, axis=1)
    cols = np.repeat(np.arange(width, dtype=np.uint8)[None, :], height, axis=0)
    return Image.fromarray(np.stack([rows, cols, np.full_like(rows, 7)], axis=-1))


@pytest.mark.parametrize("height, width, top, left", [
    (259, 240, 18, 8),   # (259-224)/2 = 17.5 -> 18 (half to even), not floor 17
    (257, 226, 16, 1),   # 16.5 -> 16 (half to even), 1 -> 1
    (224, 224, 0, 0),
])
def test_center_crop_offsets(height, width, top, left):
    crop = np.asarray(center_crop(_coordinate_image(height, width), 224))
    assert crop.shape == (224, 224, 3)
    assert crop[0, 0, 0] == top and crop[0, 0, 1] == left


def test_center_crop_pads_small_images_with_zeros():
    crop = np.asarray(center_crop(_coordinate_image(100, 201), 224))
    assert crop.shape == (224, 224, 3)
    pad_top, pad_left = (224 - 100) // 2, (224 - 201) // 2
    assert np.all(crop[:pad_top] == 0) and np.all(crop[pad_top + 100:] == 0)
    assert np.all(crop[:, :pad_left] == 0) and np.all(crop[:, pad_left + 201:] == 0)
    assert crop[pad_top, pad_left, 2] == 7 and crop[pad_top + 99, pad_left + 200, 1] == 200


def test_scaling_and_normalization_naive_loop():
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (5, 4, 3), dtype=np.uint8))
    x = imagenet_preprocess(img, resize_size=4, crop_size=4)
    pixels = np.asarray(img)
    for c in range(3):
        for i in range(4):
            for j in range(4):
                expected = (pixels[i + 0, j, c] / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
                assert x[c, i, j] == pytest.approx(expected, rel=1e-15, abs=1e-15)


@pytest.mark.skipif(not SAMPLES, reason=f"ImageNet samples not found under {DATA} (set REFSIM_DATA)")
def test_imagenet_sample_against_torch_float32_ops():
    torch = pytest.importorskip("torch", reason="torch not installed: float32 normalization cross-check skipped")
    img = load_image(SAMPLES[0])
    for resize in (256, 232):
        x = imagenet_preprocess(img, resize_size=resize)
        assert x.shape == (3, 224, 224) and x.dtype == np.float64
        crop = center_crop(resize_shorter_side(img, resize), 224)
        t = torch.from_numpy(np.array(crop)).permute(2, 0, 1).float() / 255.0
        t = (t - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        np.testing.assert_allclose(x, t.numpy(), atol=NORMALIZE_FLOAT32_ATOL, rtol=0)


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA", "P", "CMYK", "1", "I;16", "I"])
def test_load_image_converts_modes(tmp_path, mode):
    rgb = Image.fromarray(np.random.default_rng(2).integers(0, 256, (9, 7, 3), dtype=np.uint8))
    src = rgb.convert(mode)
    if mode == "P":
        src.info["transparency"] = 0
    path = tmp_path / ("x.tiff" if mode in ("CMYK", "I;16", "I") else "x.png")
    src.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (7, 9)
    if mode in ("L", "LA", "1"):
        arr = np.asarray(out)
        assert np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])
    if mode in ("RGBA", "P"):
        assert np.array_equal(np.asarray(out), np.asarray(src.convert("RGBA"))[..., :3])


def test_load_image_errors(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not an image")
    with pytest.raises(ValueError, match="bad.jpg"):
        load_image(bad)
    good = tmp_path / "good.jpg"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(good)
    truncated = tmp_path / "trunc.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="trunc.jpg"):
        load_image(truncated)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(TypeError, match="path"):
        load_image(3)


def test_cifar_preprocess_forms_agree():
    rng = np.random.default_rng(3)
    batch = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    out = cifar_preprocess(batch)
    assert out.shape == (4, 3, 32, 32) and out.dtype == np.float64
    for k in range(4):
        np.testing.assert_array_equal(cifar_preprocess(batch[k]), out[k])
        np.testing.assert_array_equal(cifar_preprocess(Image.fromarray(batch[k])), out[k])
    x = to_float_chw(Image.fromarray(batch[0]))
    np.testing.assert_allclose(out[0] * np.array(IMAGENET_STD)[:, None, None] + np.array(IMAGENET_MEAN)[:, None, None],
                               x, rtol=0, atol=1e-15)
    big = cifar_preprocess(Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)))
    assert big.shape == (3, 32, 32)


@pytest.mark.skipif(not CIFAR.is_file(), reason=f"CIFAR-10 subset not found at {CIFAR} (set REFSIM_DATA)")
def test_cifar_subset_range():
    with np.load(CIFAR) as data:
        x = cifar_preprocess(data["images"][:16])
    lo = (0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    hi = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert np.all(x.min(axis=(0, 2, 3)) >= lo - 1e-12) and np.all(x.max(axis=(0, 2, 3)) <= hi + 1e-12)


@pytest.mark.parametrize("bad, error", [
    (np.zeros((4, 4, 3), np.float32), ValueError),
    (np.zeros((4, 4, 4), np.uint8), ValueError),
    ([[0, 1]], TypeError),
])
def test_bad_inputs(bad, error):
    with pytest.raises(error, match="img"):
        imagenet_preprocess(bad)
    with pytest.raises(ValueError, match="batch"):
        cifar_preprocess(np.zeros((2, 16, 16, 3), np.uint8))
