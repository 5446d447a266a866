"""Image loading and the input preprocessing of the pretrained checkpoints.

ImageNet (torchvision's ``ImageClassification`` preset, PIL path)::

    RGB uint8 image (H, W)
      -> resize, shorter side = resize_size (256 for V1 weights, 232 for V2),
         longer side = int(resize_size * long / short)  (truncated, as torchvision),
         PIL bilinear filter (antialiased when shrinking: the triangle kernel is
         widened by the scale factor)
      -> centre crop crop_size (224): top = int(round((H' - 224) / 2)), Python's
         round (half to even), zero padding if the image is smaller
      -> x = pixel / 255                       in [0, 1]
      -> x_c = (x_c - mean_c) / std_c,  mean = (0.485, 0.456, 0.406),
                                        std  = (0.229, 0.224, 0.225)
      -> float64 array (3, 224, 224), channels R, G, B (CHW)

CIFAR-10 (the ``pytorch_resnet_cifar10`` checkpoints): the same scaling and
normalization (with the same ImageNet mean/std, as those checkpoints were
trained), on 32x32 images (resized with PIL bilinear if another size).

torchvision computes the last two steps in float32; refsim computes them in
float64, so values differ by at most ~1e-6 after normalization. The uint8
image after resizing and cropping is bit-identical to torchvision's, because
both call the same PIL resize.
"""

from __future__ import annotations

import os
import struct
import warnings
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "load_image",
    "to_rgb",
    "resized_shape",
    "resize_shorter_side",
    "center_crop",
    "to_float_chw",
    "normalize",
    "imagenet_preprocess",
    "cifar_preprocess",
    "central_crop",
    "tflite_preprocess",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The CIFAR-10 checkpoints of pytorch_resnet_cifar10 were trained with ImageNet statistics.
CIFAR10_MEAN = IMAGENET_MEAN
CIFAR10_STD = IMAGENET_STD


def to_rgb(img: Any, name: str = "img") -> Image.Image:
    """Convert a PIL image or a uint8 array to an RGB PIL image.

    Modes: ``RGB`` kept; ``L``/``1``/``I``/``I;16`` replicated to three
    channels (``I`` modes clipped to 0..255 by PIL); ``RGBA``/``LA`` lose
    alpha without compositing and ``P`` maps through its palette (as
    torchvision's ``img.convert("RGB")``); ``CMYK`` and ``YCbCr`` by PIL's
    conversion.

    Parameters
    ----------
    img : PIL.Image.Image or numpy.ndarray
        Array input: uint8, shape (H, W) (gray) or (H, W, 3) (RGB, HWC).
    name : str
        Argument name for error messages.

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB``.
    """
    if isinstance(img, np.ndarray):
        if img.dtype != np.uint8 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
            raise ValueError(
                f"{name}: received an array of dtype {img.dtype} and shape {img.shape}; "
                "expected uint8 with shape (H, W) or (H, W, 3) (HWC, RGB)"
            )
        img = Image.fromarray(np.ascontiguousarray(img))
    if not isinstance(img, Image.Image):
        raise TypeError(f"{name}: received {type(img).__name__}; expected a PIL.Image.Image or uint8 numpy array")
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # same RGB values; avoids PIL's palette-transparency warning
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ValueError(f"{name}: cannot convert PIL mode {img.mode!r} to RGB: {exc}") from exc


def load_image(path: str | os.PathLike) -> Image.Image:
    """Read an image file and return it as an RGB PIL image.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB``, fully decoded (the file is closed). EXIF orientation is
        *not* applied (torchvision does not apply it either).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not a decodable image (message names the path).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: received {type(path).__name__}; expected str or os.PathLike")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no image file at {os.fspath(path)!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()  # decoded: usable after the file is closed
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, EOFError,
            # PIL's format plugins report a damaged header or body in their own ways (a PPM size that is not
            # a number, a truncated PNG chunk: ValueError; struct.error, IndexError... in others)
            ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, OverflowError, MemoryError,
            struct.error) as exc:
        raise ValueError(f"path: cannot read {os.fspath(path)!r} as an image: {type(exc).__name__}: "
                         f"{str(exc)[:200]}") from None
    return to_rgb(img, name=f"image {os.fspath(path)!r}")


def resized_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """Output (height, width) when the shorter side is resized to ``size``.

    torchvision's rule: ``long' = int(size * long / short)`` (truncation), and
    no resize at all when ``short == size``.
    """
    short, long = (width, height) if width <= height else (height, width)
    if short == size:
        return height, width
    new_long = int(size * long / short)
    return (new_long, size) if width <= height else (size, new_long)


def resize_shorter_side(img: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is ``size`` with PIL's (antialiased) bilinear filter.

    Parameters
    ----------
    img : PIL.Image.Image
    size : int
        Target length of the shorter side, in pixels.

    Returns
    -------
    PIL.Image.Image
        Size ``resized_shape(H, W, size)``; ``img`` itself if unchanged.
    """
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"size: received {size!r}; expected a positive int")
    height, width = img.height, img.width
    new_h, new_w = resized_shape(height, width, size)
    if (new_h, new_w) == (height, width):
        return img
    return img.resize((new_w, new_h), resample=Image.BILINEAR)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    """Centre crop to ``size x size`` as torchvision does.

    ``top = int(round((H - size) / 2))``, ``left = int(round((W - size) / 2))``
    with Python's round-half-to-even; an image smaller than ``size`` is first
    zero-padded by ``(size - H) // 2`` before and ``(size - H + 1) // 2``
    after (same for width).
    """
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"size: received {size!r}; expected a positive int")
    width, height = img.size
    if size > width or size > height:
        pad_left = (size - width) // 2 if size > width else 0
        pad_top = (size - height) // 2 if size > height else 0
        padded = Image.new(img.mode, (max(width, size), max(height, size)), 0)
        padded.paste(img, (pad_left, pad_top))
        img, (width, height) = padded, padded.size
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def to_float_chw(img: Image.Image) -> np.ndarray:
    """RGB uint8 image -> float64 array (3, H, W) in [0, 1]: ``x = pixel / 255``."""
    hwc = np.asarray(img, dtype=np.uint8)  # (H, W, 3)
    return hwc.transpose(2, 0, 1).astype(np.float64) / 255.0  # (3, H, W)


def normalize(x: np.ndarray, mean: tuple, std: tuple) -> np.ndarray:
    """Per-channel ``(x_c - mean_c) / std_c`` on a (..., 3, H, W) array."""
    mean_a = np.asarray(mean, dtype=np.float64)
    std_a = np.asarray(std, dtype=np.float64)
    if mean_a.shape != (3,) or std_a.shape != (3,) or np.any(std_a <= 0):
        raise ValueError(f"mean/std: received {mean!r}/{std!r}; expected three values each, std > 0")
    return (x - mean_a[:, None, None]) / std_a[:, None, None]


def imagenet_preprocess(img: Any, resize_size: int = 256, crop_size: int = 224,
                        mean: tuple = IMAGENET_MEAN, std: tuple = IMAGENET_STD) -> np.ndarray:
    """torchvision's ImageNet evaluation transform, in NumPy float64.

    Parameters
    ----------
    img : PIL.Image.Image or numpy.ndarray
        Any PIL mode, or uint8 (H, W) / (H, W, 3) HWC RGB.
    resize_size : int
        Shorter side after resizing: 256 (V1 weights) or 232 (V2 weights);
        see :attr:`refsim.io.CheckpointInfo.resize_size`.
    crop_size : int
        Centre-crop side (224).
    mean, std : tuple of 3 float
        Normalization, per RGB channel.

    Returns
    -------
    numpy.ndarray, float64, shape (3, crop_size, crop_size)
    """
    rgb = to_rgb(img)
    cropped = center_crop(resize_shorter_side(rgb, resize_size), crop_size)
    return normalize(to_float_chw(cropped), mean, std)


def cifar_preprocess(img: Any, mean: tuple = CIFAR10_MEAN, std: tuple = CIFAR10_STD) -> np.ndarray:
    """The CIFAR-10 checkpoints' input transform: /255 then normalize.

    Parameters
    ----------
    img : PIL.Image.Image or numpy.ndarray
        A PIL image (any mode, any size: resized to 32x32 with PIL bilinear),
        a uint8 (H, W, 3) array, or a uint8 batch (N, 32, 32, 3) (e.g. the
        ``images`` of the shared CIFAR-10 subset).
    mean, std : tuple of 3 float

    Returns
    -------
    numpy.ndarray, float64
        (3, 32, 32), or (N, 3, 32, 32) for a batch.
    """
    if isinstance(img, np.ndarray) and img.ndim == 4:
        if img.dtype != np.uint8 or img.shape[1:] != (32, 32, 3):
            raise ValueError(f"img: received a batch of dtype {img.dtype} and shape {img.shape}; "
                             "expected uint8 (N, 32, 32, 3)")
        x = img.transpose(0, 3, 1, 2).astype(np.float64) / 255.0  # (N, 3, 32, 32)
        return normalize(x, mean, std)
    rgb = to_rgb(img)
    if rgb.size != (32, 32):
        rgb = rgb.resize((32, 32), resample=Image.BILINEAR)
    return normalize(to_float_chw(rgb), mean, std)


def central_crop(img: Image.Image, fraction: float = 0.875) -> Image.Image:
    """``tf.image.central_crop``: keep the central ``fraction`` of each side.

    With ``f = int(1 / ((1 - fraction) / 2))`` (16 for 0.875): ``top = H // f``,
    ``height = H - 2 top``; the same for the width (TensorFlow's integer arithmetic).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction: received {fraction!r}; expected 0 < fraction < 1")
    f = int(1 / ((1 - fraction) / 2.0))
    width, height = img.size
    top, left = height // f, width // f
    return img.crop((left, top, width - left, height - top))


def tflite_preprocess(img: Any, size: int = 224, fraction: float = 0.875) -> np.ndarray:
    """The input of the quantized MobileNetV2 TFLite model: uint8 ``(size, size, 3)`` HWC RGB.

    RGB -> :func:`central_crop` (87.5 %) -> PIL bilinear resize to ``size x size``
    (antialiased when shrinking) -> uint8 pixels as they are: the model's input
    quantization (scale 1/128, zero point 128) maps them to [-1, 1). The
    recorded TFLite reference outputs (tests/data/make_mobilenet_reference.py)
    were computed from exactly these bytes.
    """
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"size: received {size!r}; expected a positive int")
    rgb = central_crop(to_rgb(img), fraction)
    return np.asarray(rgb.resize((size, size), resample=Image.BILINEAR), dtype=np.uint8)
