"""``refsim train``: fine-tune a CIFAR ResNet with the crossbar in the loop (hardware-aware training,
Rasch et al. 2023; docs/training.md), or in floating point (``--fp``, the control)::

    refsim train --model M --weights CKPT --data TRAIN --preset P --epochs N --batch-size B --lr LR
                 --out OUT.npz [--limit N] [--seed S] [--resume] [--momentum 0.9] [--weight-decay 5e-4]
                 [--schedule cosine] [--noise-scale 1] [--ramp-epochs 1] [--val-split 0] [--no-augment]
                 [--crop-pad 4] [--no-flip] [--remap] [--fp] [--train-without NAMES] [--quiet] [--json]

Writes ``OUT.npz`` (the state dict of the trained weights, read by ``refsim eval`` / ``infer``),
``OUT.layers.json`` (HWA: every layer's inference config with its learned input range alpha as
``dac.x_max``; pass it as ``refsim eval --calibration OUT.layers.json``) and ``OUT.state.npz``
(the training state, written atomically after every epoch; ``--resume`` continues from it with
the same bits as an uninterrupted run).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from tqdm import tqdm

from refsim._validate import received
from refsim.cli.common import float_arg, int_arg

__all__ = ["add_train_subcommands", "cmd_train"]


def cmd_train(args: argparse.Namespace) -> int:
    from refsim.cli.common import resolve_config
    from refsim.tools.inference import build_model
    from refsim.train.hwa import HWAConfig
    from refsim.train.loop import TrainOptions, checkpoint_paths, load_images, train

    if args.model not in ("auto",) and not args.model.startswith("cifar-resnet"):
        raise ValueError(f"--model: received {args.model!r}; expected auto or a CIFAR ResNet (cifar-resnet20, 32, "
                         "44, 56, 110): refsim train trains CIFAR ResNets")
    if args.weights == "random" and args.model == "auto":
        raise ValueError(received("--model", "auto with --weights random", "a CIFAR ResNet (cifar-resnet20, 32, 44, "
                                  "56, 110): a random start has no checkpoint to read the architecture from"))
    from refsim.train.hwa_config import MAX_NOISE_SCALE
    if args.noise_scale > MAX_NOISE_SCALE:
        raise ValueError(received("--noise-scale", repr(args.noise_scale), f"a value <= {MAX_NOISE_SCALE:g} "
                                  "(1 is the preset's own noise)"))
    without = _train_without(args.train_without, args.fp)
    cfg = resolve_config(args.preset, quiet=args.quiet)
    hwa = None
    if not args.fp:
        try:
            hwa = HWAConfig(cfg, noise_scale=args.noise_scale, ramp_epochs=args.ramp_epochs,
                            **{name: False for name in without})
        except (ValueError, TypeError) as exc:
            raise ValueError(f"--preset: {exc}") from None
    if not args.val_split < 1:
        raise ValueError(f"--val-split: received {args.val_split!r}; expected a fraction in [0, 1)")
    if not os.path.exists(args.data):
        raise FileNotFoundError(f"--data: no .npz file or folder at {args.data!r}")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(f"--out: received {args.out!r}; expected a path in an existing folder")
    if not args.out.endswith(".npz"):
        raise ValueError(f"--out: received {args.out!r}; expected a file name ending in .npz")
    try:  # a file the run can write (checked before training, so that no epoch is lost)
        tempfile.TemporaryFile(dir=out_dir).close()
    except OSError as exc:
        raise ValueError(received("--out", f"{args.out!r} in a folder where no file can be written "
                                  f"({exc.strerror or exc})", "a path in a writable folder")) from None
    _check_outputs(args.out, {"--data": args.data, "--weights": args.weights, "--preset": args.preset})
    model = build_model(args.model, args.weights, None)  # reads and checks the checkpoint (digital)
    if not model.name.startswith("cifar-"):
        raise ValueError(f"--weights: the checkpoint is a {model.name}; expected a CIFAR ResNet")
    from refsim.io import load_state_dict
    from refsim.nn.statedict import strip_prefix
    sd = strip_prefix(load_state_dict(args.weights), "module.") if args.weights != "random" else None
    if sd is None:
        from refsim.tools.inference import random_state_dict
        sd = random_state_dict(model.name, 0)
    images, labels = load_images(args.data, args.limit)
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < model.num_classes:
        raise ValueError(received("--data", f"labels in [{int(labels.min())}, {int(labels.max())}]",
                                  f"class indices in [0, {model.num_classes - 1}] for {model.name}"))
    if args.limit is not None and args.limit > len(labels) and not args.quiet:
        print(f"refsim train: note: --limit {args.limit} exceeds the {len(labels)} images of {args.data}; "
              "using all of them", file=sys.stderr)
    opts = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                        weight_decay=args.weight_decay, schedule=args.schedule, seed=args.seed, limit=args.limit,
                        val_split=args.val_split, crop_pad=0 if args.no_augment else args.crop_pad,
                        flip=not (args.no_augment or args.no_flip), hwa=not args.fp, noise_scale=args.noise_scale,
                        ramp_epochs=args.ramp_epochs, remap=args.remap, train_without=",".join(without))
    if not args.resume and os.path.exists(checkpoint_paths(args.out)["state"]) and not args.quiet:
        print(f"refsim train: note: {checkpoint_paths(args.out)['state']} exists; starting over "
              "(--resume continues it)", file=sys.stderr)

    def bar(total, epoch):
        return tqdm(total=total, desc=f"epoch {epoch + 1}/{opts.epochs}", unit="img", file=sys.stderr,
                    disable=args.quiet, leave=False)

    def log(text):
        if not args.quiet:
            print(f"refsim train: {text}", file=sys.stderr)

    t0 = time.perf_counter()
    res = train(sd, images, labels, opts, hwa=hwa, out=args.out, resume=args.resume, bar=bar, log=log)
    out = {"command": "train", "model": model.name, "weights": args.weights, "data": args.data,
           "n_images": int(len(labels)), "preset": cfg.name, "mode": "fp" if args.fp else "hwa",
           "options": {k: getattr(opts, k) for k in opts.__dataclass_fields__}, "history": res["history"],
           "resumed_from_epoch": res["resumed_from"], "outputs": res["paths"] if not args.fp else
           {k: v for k, v in res["paths"].items() if k != "layers"}, "seconds": time.perf_counter() - t0}
    if args.json:
        print(json.dumps(out))
    else:
        last = res["history"][-1] if res["history"] else {}
        print(f"trained {model.name} ({out['mode']}, preset {cfg.name}) on {out['n_images']} images, "
              f"{opts.epochs} epoch(s): final train loss {last.get('train_loss', float('nan')):.4f}"
              + (f", val accuracy {100 * last['val_accuracy']:.2f} %" if "val_accuracy" in last else ""))
        print(f"weights: {args.out}")
        if not args.fp:
            print(f"inference configs with the learned input ranges: {res['paths']['layers']}")
            print(f"evaluate: refsim eval --weights {args.out} --preset {cfg.name} --calibration "
                  f"{res['paths']['layers']} --data TEST.npz")
    return 0


def _train_without(value: str | None, fp: bool) -> list[str]:
    """The names of ``--train-without`` (comma-separated :data:`refsim.train.hwa_config.SWITCHES`), sorted."""
    from refsim.train.hwa_config import SWITCHES

    if value is None:
        return []
    if fp:
        raise ValueError(received("--train-without", repr(value), "no value with --fp (it switches off parts of the "
                                  "HWA forward; the FP control has none)"))
    names = [n.strip() for n in value.split(",")]
    bad = [n for n in names if n not in SWITCHES]
    if bad or not names:
        raise ValueError(received("--train-without", repr(value), "comma-separated names from " + ", ".join(SWITCHES)))
    return sorted(set(names))


def _check_outputs(out: str, inputs: dict) -> None:
    """Refuse an --out whose files (OUT.npz, OUT.state.npz, OUT.layers.json) would overwrite an input."""
    from refsim.train.loop import checkpoint_paths

    for kind, path in checkpoint_paths(out).items():
        for flag, given in inputs.items():
            if given and os.path.exists(given) and os.path.exists(path) and os.path.samefile(path, given):
                raise ValueError(received("--out", repr(out), f"a path whose outputs do not overwrite {flag} "
                                          f"{given!r} (its {kind} file {path!r} is that file)"))


def add_train_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` on the main parser's ``subparsers``."""
    p = subparsers.add_parser("train", help="hardware-aware (or FP) fine-tuning of a CIFAR ResNet; resumable")
    p.add_argument("--model", default="auto", help="cifar-resnet20/32/44/56/110 or auto (from the checkpoint) (default: auto)")
    p.add_argument("--weights", required=True, help="checkpoint to start from (any format refsim reads), or random")
    p.add_argument("--data", required=True, help="training images: CIFAR-layout .npz (images, labels) or folder "
                   "<class>/<image>")
    p.add_argument("--preset", default="rasch2023_standard",
                   help="crossbar model of the HWA forward and of the inference configs written (default: "
                   "rasch2023_standard)")
    p.add_argument("--epochs", type=int_arg(1), required=True, help="epochs")
    p.add_argument("--batch-size", type=int_arg(2), default=128, help="images per step (default: 128)")
    p.add_argument("--lr", type=float_arg(0, low_open=True), required=True, help="learning rate")
    p.add_argument("--out", required=True, help="output state dict OUT.npz (also OUT.layers.json, OUT.state.npz)")
    p.add_argument("--limit", type=int_arg(2), default=None, help="use the first N images only")
    p.add_argument("--seed", type=int_arg(0), default=0, help="seed of every random stream (default: 0)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.state.npz (same options)")
    p.add_argument("--momentum", type=float_arg(0), default=0.9, help="SGD momentum (default: 0.9)")
    p.add_argument("--weight-decay", type=float_arg(0), default=5e-4,
                   help="weight decay of the conv and linear weights (default: 5e-4)")
    p.add_argument("--schedule", choices=("constant", "cosine", "step"), default="cosine",
                   help="learning-rate schedule over epochs (default: cosine)")
    p.add_argument("--noise-scale", type=float_arg(0), default=1.0,
                   help="eta_max, the scale of the injected programming + 20 s read noise (N3; default: 1)")
    p.add_argument("--ramp-epochs", type=int_arg(0), default=1,
                   help="epochs over which eta ramps linearly to eta_max (N3; default: 1)")
    p.add_argument("--val-split", type=float_arg(0), default=0.0,
                   help="fraction of the images held out for validation after every epoch (default: 0)")
    p.add_argument("--crop-pad", type=int_arg(0, 16), default=4, help="random-crop padding, pixels (default: 4)")
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flip")
    p.add_argument("--no-augment", action="store_true", help="no augmentation at all")
    p.add_argument("--remap", action="store_true", help="re-map the analog weights to [-1, 1] once per epoch (N8)")
    p.add_argument("--fp", action="store_true", help="floating-point fine-tuning (the control; --preset unused)")
    p.add_argument("--train-without", default=None, metavar="NAMES",
                   help="non-idealities left out of the training forward only (evaluation keeps them), comma-separated: "
                        "dac, adc, out_noise, short_term_noise, ir_drop, prog_noise, read_noise_20s (MODEL.md N2-N5; "
                        "ir_drop,short_term_noise: the step without its per-vector products) (default: none)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar or notes on stderr")
    p.set_defaults(func=cmd_train)
