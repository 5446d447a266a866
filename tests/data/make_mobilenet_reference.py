"""Record the TFLite interpreter's outputs of MobileNetV2 (quantized) on the shared ImageNet samples.

Runs in a separate environment with the LiteRT interpreter (never imported by refsim or the tests)::

    python3 -m venv /tmp/litert && /tmp/litert/bin/pip install ai-edge-litert==2.3.0 numpy pillow
    /tmp/litert/bin/python tests/data/make_mobilenet_reference.py [DATA_DIR] [OUT.npz]

DATA_DIR defaults to ``../shared/data``; OUT to ``tests/data/mobilenet_v2_tflite_reference.npz``.

The input preprocessing is written out here independently of refsim (PIL only):
RGB -> centre crop of 87.5 % as ``tf.image.central_crop`` (``top = H // 16``,
``height = H - 2 * top``, same for the width) -> PIL bilinear resize to 224 x 224 ->
uint8 NHWC fed as it is (the model's input quantization, scale 1/128 and zero
point 128, maps 0..255 to [-1, 1)). The SHA-256 of each uint8 input is recorded, so
the tests check that ``refsim.tools.preprocess.tflite_preprocess`` feeds the same bytes.

Three op resolvers are recorded: ``ref`` (TFLite's reference kernels, BUILTIN_REF),
``builtin`` (optimized kernels, no delegate) and ``xnnpack`` (the default, XNNPACK
delegate). For each: the uint8 input of the final SOFTMAX (the logits) and the uint8
output (probabilities, scale 1/256).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ai_edge_litert import __version__ as litert_version
from ai_edge_litert.interpreter import Interpreter, OpResolverType

TINY_SEED = 7
RESOLVERS = {"ref": OpResolverType.BUILTIN_REF, "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
             "xnnpack": OpResolverType.AUTO}


def preprocess(path: Path) -> np.ndarray:
    """uint8 (1, 224, 224, 3): central crop 87.5 % then PIL bilinear resize."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        top, left = h // 16, w // 16
        im = im.crop((left, top, w - left, h - top)).resize((224, 224), resample=Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8)[None]


def graph_facts(model: Path) -> dict:
    """The interpreter's view of the graph, an oracle for refsim's flatbuffer reader.

    Per tensor: name, shape, dtype, scale and zero point (0 and 0 when not quantized),
    SHA-256 of the constant data ('' for activations); per operator: name, inputs, outputs.
    """
    it = Interpreter(model_path=str(model), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    details = sorted(it.get_tensor_details(), key=lambda d: d["index"])
    consts = {int(i) for op in it._get_ops_details() for i in op["inputs"]} - {
        int(i) for op in it._get_ops_details() for i in op["outputs"]} - {d["index"] for d in it.get_input_details()}
    ops = it._get_ops_details()
    join = lambda v: ",".join(str(int(i)) for i in v)  # noqa: E731
    return {
        "tensor_names": np.array([d["name"] for d in details]),
        "tensor_shapes": np.array([join(d["shape"]) for d in details]),
        "tensor_dtypes": np.array([np.dtype(d["dtype"]).name for d in details]),
        "tensor_scales": np.array([d["quantization"][0] for d in details], dtype=np.float32),
        "tensor_zero_points": np.array([d["quantization"][1] for d in details], dtype=np.int64),
        "tensor_sha256": np.array([hashlib.sha256(it.get_tensor(d["index"]).tobytes()).hexdigest()
                                   if d["index"] in consts else "" for d in details]),
        "op_names": np.array([op["op_name"] for op in ops]),
        "op_inputs": np.array([join(op["inputs"]) for op in ops]),
        "op_outputs": np.array([join(op["outputs"]) for op in ops]),
    }


def tiny_facts() -> dict:
    """The interpreter's every tensor of ``tests/_tflite_writer.tiny_model(0)`` on 4 seeded inputs."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from _tflite_writer import tiny_model

    data, _ = tiny_model(0)
    it = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    xs = np.random.default_rng(TINY_SEED).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    acts = [d["index"] for d in it.get_tensor_details() if d["dtype"] == np.uint8 and not d["name"].endswith("/w")]
    out = {f"tiny_t{i}": [] for i in acts}
    for x in xs:
        it.set_tensor(it.get_input_details()[0]["index"], x[None])
        it.invoke()
        for i in acts:
            out[f"tiny_t{i}"].append(it.get_tensor(i)[0].copy())
    return {"tiny_sha256": np.array(hashlib.sha256(data).hexdigest()), **{k: np.stack(v) for k, v in out.items()}}


def main(argv: list) -> None:
    data = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[3] / "shared" / "data"
    out = Path(argv[2]) if len(argv) > 2 else Path(__file__).resolve().parent / "mobilenet_v2_tflite_reference.npz"
    model = data / "mobilenet" / "mobilenet_v2_1.0_224_quant.tflite"
    images = sorted((data / "imagenet-samples").glob("*.JPEG"))
    wnids = [line.split()[0] for line in (data / "imagenet-samples" / "classes.txt").read_text().splitlines()]
    inputs = [preprocess(p) for p in images]
    record = {"names": np.array([p.name for p in images]),
              "input_sha256": np.array([hashlib.sha256(x.tobytes()).hexdigest() for x in inputs]),
              "labels": np.array([wnids.index(p.name.split("_")[0]) + 1 for p in images], dtype=np.int64),
              "model_sha256": np.array(hashlib.sha256(model.read_bytes()).hexdigest()),
              "interpreter": np.array(f"ai-edge-litert {litert_version}")}
    record.update(graph_facts(model))
    record.update(tiny_facts())
    for key, resolver in RESOLVERS.items():
        it = Interpreter(model_path=str(model), experimental_op_resolver_type=resolver,
                         experimental_preserve_all_tensors=True)
        it.allocate_tensors()
        inp, outp = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
        softmax = [op for op in it._get_ops_details() if op["op_name"] == "SOFTMAX"][-1]
        logits, probs = [], []
        for x in inputs:
            it.set_tensor(inp, x)
            it.invoke()
            logits.append(it.get_tensor(int(softmax["inputs"][0])).reshape(-1).copy())
            probs.append(it.get_tensor(outp).reshape(-1).copy())
        record[f"logits_q_{key}"] = np.stack(logits).astype(np.uint8)
        record[f"output_q_{key}"] = np.stack(probs).astype(np.uint8)
        top1 = np.argmax(record[f"logits_q_{key}"], axis=1)
        print(f"{key}: top-1 (argmax of the logits) {int(np.sum(top1 == record['labels']))} / {len(images)}")
    np.savez_compressed(out, **record)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv)
