"""``refsim weights ...``: list, fetch and import pretrained checkpoints.

:func:`add_weights_subcommands` registers on an ``argparse`` subparsers object::

    refsim weights list
    refsim weights fetch NAME [--dir weights/] [--url URL] [--no-progress] [--deadline S] [--max-mb MIB]
    refsim weights import PATH --out FILE.npz [--key KEY] [--keep-prefix]

Each handler takes the parsed ``argparse.Namespace`` and returns an exit code
(0 success, 1 failure with a message on stderr).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from refsim.cli.common import float_arg
from refsim.io import (
    CheckpointError,
    DownloadError,
    fetch,
    list_checkpoints,
    load_state_dict,
    write_npz,
)
from refsim.io.download import DEFAULT_DEADLINE_S, DEFAULT_MAX_BYTES

__all__ = ["add_weights_subcommands", "cmd_list", "cmd_fetch", "cmd_import"]


def cmd_list(args: argparse.Namespace) -> int:
    """Print the registry as a table."""
    print(f"{'name':<24} {'arch':<16} {'prep':<9} {'top1 %':>7}  sha256   file")
    for info in list_checkpoints():
        hash_note = "full" if info.sha256_is_full else "prefix"
        print(f"{info.name:<24} {info.arch:<16} {info.preprocess:<9} {info.top1_percent:>7.3f}  "
              f"{hash_note:<7}  {info.filename}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """Download one registry checkpoint into ``args.dir``."""
    try:
        path = fetch(args.name, args.dir, url=args.url, progress=not args.no_progress, deadline_s=args.deadline,
                     max_bytes=int(args.max_mb * (1 << 20)))
    except (ValueError, DownloadError, OSError) as exc:
        print(f"refsim weights fetch: error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Read any supported checkpoint and write its state dict as ``.npz``."""
    try:
        state_dict = load_state_dict(args.path, key=args.key, strip_prefix=None if args.keep_prefix else "module.")
        write_npz(args.out, state_dict)
    except (CheckpointError, OSError, ValueError, TypeError) as exc:
        print(f"refsim weights import: error: {exc}", file=sys.stderr)
        return 1
    n_params = sum(int(np.prod(a.shape)) for a in state_dict.values())
    print(f"wrote {len(state_dict)} tensors ({n_params} values) to {args.out}")
    return 0


def add_weights_subcommands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``weights`` command and its sub-commands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()`` of the main ``refsim`` parser.

    Returns
    -------
    argparse.ArgumentParser
        The ``weights`` parser.
    """
    weights = subparsers.add_parser("weights", help="list, fetch and import pretrained checkpoints")
    sub = weights.add_subparsers(dest="weights_command", metavar="{list,fetch,import}")
    sub.required = True

    p_list = sub.add_parser("list", help="show the known public checkpoints")
    p_list.set_defaults(func=cmd_list)

    p_fetch = sub.add_parser("fetch", help="download a checkpoint and verify its SHA-256")
    p_fetch.add_argument("name", help="registry name (see 'refsim weights list')")
    p_fetch.add_argument("--dir", default="weights", help="target directory (default: weights/)")
    p_fetch.add_argument("--url", default=None, help="download from this URL instead (mirror)")
    p_fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_fetch.add_argument("--deadline", type=float_arg(0.0, low_open=True), default=DEFAULT_DEADLINE_S,
                         metavar="SECONDS", help=f"time limit of the whole download (default {DEFAULT_DEADLINE_S:g} s)")
    p_fetch.add_argument("--max-mb", type=float_arg(0.0, low_open=True), default=DEFAULT_MAX_BYTES / (1 << 20),
                         metavar="MIB", help=f"size cap of the download (default {DEFAULT_MAX_BYTES >> 20} MiB)")
    p_fetch.set_defaults(func=cmd_fetch)

    p_import = sub.add_parser("import", help="convert a .pt/.pth/.th/.safetensors/.npz to a .npz state dict")
    p_import.add_argument("path", help="checkpoint file (format detected from its content)")
    p_import.add_argument("--out", required=True, help="output .npz file")
    p_import.add_argument("--key", default=None, help="path of the state dict inside the checkpoint, e.g. state_dict")
    p_import.add_argument("--keep-prefix", action="store_true", help="keep a common 'module.' prefix")
    p_import.set_defaults(func=cmd_import)
    return weights
