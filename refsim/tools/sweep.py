"""Accuracy sweeps over a grid of config fields: expand, seed, evaluate, append, resume.

The Python side of ``refsim sweep`` and ``refsim plot`` (:mod:`refsim.cli.sweep`)::

    base = presets.get("xiao2022_resnet50")
    vary = [parse_vary("device.prog_sigma_rel=0.02,0.05"), parse_vary("mapping.scheme=offset")]
    tasks = make_tasks(base, vary, model="auto", weights=W, data=D, repeats=2, seed=0)
    run_sweep(tasks, "results.jsonl", jobs=2)          # evaluate_point in 2 processes
    groups = aggregate(read_results("results.jsonl"), x="device.prog_sigma_rel")

* **Grid.** Every ``--vary FIELD=V1,V2,...`` is one axis; the grid is their Cartesian
  product (first axis slowest). A field is a dotted config name (``adc.bits``); several
  names joined by ``+`` (``wire.r_row_ohm+wire.r_col_ohm=0,1``) are one axis that sets
  them all to the same value. Values are JSON scalars (``8``, ``0.02``, ``true``,
  ``null``) and anything that is not JSON is a string (``offset``). Every point is
  validated up front with :meth:`refsim.CrossbarConfig.replace`; an error names the field.
* **Seeds.** Repeat ``r`` of a sweep with ``--seed S`` builds its network with

  .. math:: s_r = \\mathrm{SeedSequence}(S,\\ \\mathrm{spawn\\_key}=(r,)).\\mathrm{generate\\_state}(1)[0]

  (a uint32; the same as ``SeedSequence(S).spawn(R)[r]``). Every grid point of repeat
  ``r`` uses the same ``s_r`` (common random numbers: differences between points are
  not blurred by different draws), and ``s_r`` does not depend on the worker, the
  number of jobs or the order of evaluation, so results are identical whatever
  ``--jobs``/``--dask``.
* **Results** (docs/sweep.md, :data:`RECORD_FIELDS`): one JSON object per line, appended by
  the submitting process with a single ``os.write`` on an ``O_APPEND`` descriptor,
  then ``fsync``: a killed sweep loses no finished point. A re-run skips every task
  whose :func:`task_key` is already in the file. Writing, reading and summarizing that file
  (:func:`append_record`, :func:`read_results`, :func:`aggregate`) is
  :mod:`refsim.tools.sweep_results`, re-exported here.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import time
from typing import Callable, Iterable

import numpy as np

from refsim.config import CrossbarConfig
from refsim.tools._proc import die_with_parent, results_lock
# the results file and its summaries (re-exported: refsim.tools.sweep.read_results keeps working)
from refsim.tools.sweep_results import aggregate, append_record, read_results, record_value

__all__ = ["SCHEMA_VERSION", "RECORD_FIELDS", "parse_value", "parse_vary", "expand_grid", "repeat_seed",
           "make_tasks", "task_key", "evaluate_point", "append_record", "read_results", "run_sweep",
           "record_value", "aggregate"]

#: Version of the JSONL record layout (docs/sweep.md).
SCHEMA_VERSION = 1
#: Keys of every result record, in the order written.
RECORD_FIELDS = ("schema", "refsim_version", "model", "weights", "data", "limit", "calibrate", "preset",
                 "varied", "seed", "repeat", "point_seed", "config", "accuracy", "correct", "n", "seconds")
#: Task keys that identify a point for resuming (:func:`task_key`).
KEY_FIELDS = ("model", "weights", "data", "limit", "calibrate", "preset", "varied", "seed", "repeat")


# --------------------------------------------------------------------------- grid
def parse_value(text: str):
    """One ``--vary`` value: a JSON scalar (int, float, bool, null) or else the raw string.

    >>> parse_value("8"), parse_value("0.5"), parse_value("null"), parse_value("offset")
    (8, 0.5, None, 'offset')
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    if isinstance(value, (list, dict)):
        raise ValueError(f"--vary value {text!r}: expected a JSON scalar (number, true/false, null or a "
                         f"string), received a {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"--vary value {text!r}: expected a finite number")
    return value


def parse_vary(spec: str) -> tuple[tuple[str, ...], list]:
    """``"FIELD[+FIELD...]=V1,V2,..."`` -> ``((field, ...), [v1, v2, ...])``."""
    if not isinstance(spec, str) or "=" not in spec:
        raise ValueError(f"--vary {spec!r}: expected FIELD=V1,V2,... (e.g. adc.bits=4,6,8)")
    name, _, values = spec.partition("=")
    fields = tuple(f.strip() for f in name.split("+"))
    if not all(fields) or not values.strip():
        raise ValueError(f"--vary {spec!r}: expected FIELD=V1,V2,... with a field name and at least one value")
    return fields, [parse_value(v.strip()) for v in values.split(",")]


def expand_grid(base: CrossbarConfig, vary: list[tuple[tuple[str, ...], list]]) -> list[dict]:
    """Every point of the grid as ``{dotted field: value}``, each validated against ``base``.

    Raises ``ValueError`` naming the field (and value) when a name is unknown, a field is
    varied twice, or a point gives an invalid config.
    """
    if not isinstance(base, CrossbarConfig):
        raise TypeError(f"base: received {type(base).__name__}; expected a refsim.CrossbarConfig")
    seen: set[str] = set()
    for fields, _ in vary:
        for f in fields:
            if f in seen:
                raise ValueError(f"--vary {f}: the field is varied twice; give each field once")
            seen.add(f)
            try:
                base.replace(**{f: getattr_dotted(base, f)})
            except (ValueError, AttributeError):
                raise ValueError(f"--vary {f}: unknown config field {f!r}; expected a dotted name "
                                 f"'section.field' such as 'adc.bits' (see `refsim presets ideal`)") from None
    points = []
    for combo in itertools.product(*[values for _, values in vary]):
        point = {f: v for (fields, _), v in zip(vary, combo) for f in fields}
        try:
            base.replace(**point)
        except (ValueError, TypeError) as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in point.items())
            raise ValueError(f"--vary point ({shown}) is not a valid config: {exc}") from None
        points.append(point)
    return points


def getattr_dotted(cfg: CrossbarConfig, name: str):
    """``cfg.<section>.<field>`` (or a top-level field) by its dotted name."""
    obj = cfg
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def repeat_seed(seed: int, repeat: int) -> int:
    """The network seed of repeat ``repeat``: ``SeedSequence(seed, spawn_key=(repeat,))``, one uint32."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"--seed: received {seed!r}; expected a non-negative int")
    return int(np.random.SeedSequence(int(seed), spawn_key=(int(repeat),)).generate_state(1)[0])


def make_tasks(base: CrossbarConfig, vary, *, model: str, weights, data, preset: str | None = None,
               repeats: int = 1, seed: int = 0, limit: int | None = None, calibrate: int | None = None) -> list[dict]:
    """One task dict per (repeat, grid point), repeat slowest; see :data:`RECORD_FIELDS`."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"--repeats: received {repeats!r}; expected a positive int")
    if calibrate is not None and (isinstance(calibrate, bool) or not isinstance(calibrate, int) or calibrate < 1):
        raise ValueError(f"--calibrate: received {calibrate!r}; expected a positive number of images")
    points = expand_grid(base, vary)
    common = {"model": model, "weights": os.fspath(weights), "data": os.fspath(data), "limit": limit,
              "calibrate": calibrate, "preset": preset if preset is not None else base.name}
    tasks = []
    for r in range(repeats):
        s_r = repeat_seed(seed, r)
        for point in points:
            tasks.append({**common, "varied": point, "seed": int(seed), "repeat": r, "point_seed": s_r,
                          "config": base.replace(**point).to_dict()})
    return tasks


def task_key(record: dict) -> str:
    """The identity of a point for resuming: :data:`KEY_FIELDS` as canonical JSON."""
    return json.dumps({k: record.get(k) for k in KEY_FIELDS}, sort_keys=True)


# --------------------------------------------------------------------------- one point
def _calibration_images(data, n_cal: int, n_eval: int, model) -> np.ndarray:
    """The last ``n_cal`` images of ``data``, preprocessed: disjoint from the first ``n_eval``."""
    from refsim.tools.inference import load_dataset, preprocess_image
    from refsim.tools.preprocess import load_image

    full = load_dataset(data, model=model)
    if n_cal + n_eval > len(full):
        raise ValueError(f"--calibrate {n_cal}: the data set has {len(full)} images and {n_eval} are evaluated; "
                         f"calibration uses the last {n_cal}, which must not overlap (lower --limit or --calibrate)")
    items = full.images[len(full) - n_cal:]
    return np.stack([preprocess_image(load_image(i) if full.kind == "folder" else i, model) for i in items])


def evaluate_point(task: dict) -> dict:
    """Build the network of ``task`` (seed ``point_seed``), optionally calibrate it, evaluate it.

    With ``calibrate = N`` the per-layer DAC/ADC ranges are profiled
    (:func:`refsim.tools.calibrate.calibrate_network`) on the last ``N`` images of the data set,
    never on the evaluated ones, and the network is rebuilt with them (same seed, so the
    same programmed conductances). Returns ``{"accuracy", "correct", "n", "seconds"}``.
    """
    from refsim.tools.inference import build_model, evaluate, load_dataset
    from refsim.io import load_state_dict

    t0 = time.perf_counter()
    cfg = CrossbarConfig.from_dict(task["config"])
    weights = task["weights"] if task["weights"] == "random" else load_state_dict(task["weights"])
    model = build_model(task["model"], weights, cfg, seed=task["point_seed"])
    ds = load_dataset(task["data"], limit=task["limit"], model=model)
    if task.get("calibrate"):
        from refsim.tools.calibrate import LayerConfigs, calibrate_network, calibration_ranges

        x_cal = _calibration_images(task["data"], task["calibrate"], len(ds), model)  # (N, 3, H, W)
        layer_cfgs = LayerConfigs(calibrate_network(model.net, x_cal, ranges=calibration_ranges(cfg)), default=None)
        model = build_model(task["model"], weights, layer_cfgs, seed=task["point_seed"])
    res = evaluate(model, ds)
    return {"accuracy": res["accuracy"], "correct": res["correct"], "n": res["n"],
            "seconds": time.perf_counter() - t0}


def _record(task: dict, result: dict) -> dict:
    from refsim import __version__

    full = {**task, **result, "schema": SCHEMA_VERSION, "refsim_version": __version__}
    out = {k: full[k] for k in RECORD_FIELDS}
    out.update({k: v for k, v in result.items() if k not in out})  # an evaluate function's extra fields
    return out


# --------------------------------------------------------------------------- running
def _completed(futures, dask_client):
    """Yield ``(task, result)`` as futures finish (concurrent.futures or dask)."""
    if dask_client is None:
        from concurrent.futures import as_completed
    else:
        from distributed import as_completed
    for fut in as_completed(list(futures)):
        yield futures[fut], fut.result()


def run_sweep(tasks: list[dict], out, *, evaluate: Callable[[dict], dict] = evaluate_point, jobs: int = 1,
              dask: str | None = None, progress: bool = True) -> dict:
    """Evaluate every task not yet in ``out`` and append one record per finished point.

    Parameters
    ----------
    tasks : from :func:`make_tasks`.
    out : path of the JSONL results file (created if absent; existing records are kept).
    evaluate : ``task -> {"accuracy", "correct", "n", "seconds", ...}``; must be picklable for
        ``jobs > 1`` or ``dask`` (a module-level function). Further keys of its result are written
        after :data:`RECORD_FIELDS` (e.g. :mod:`refsim.tools.families`' metric and A*).
    jobs : worker processes (``concurrent.futures.ProcessPoolExecutor``); 1 runs in this process.
    dask : address of a running Dask scheduler (``tcp://host:8786``); points are submitted
        there and the records are written here, by this process only. Needs the
        ``distributed`` extra (imported only then).
    progress : tqdm progress bar on stderr.

    Returns ``{"total", "skipped", "done"}``.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs: received {jobs!r}; expected a positive int")
    if dask is not None and jobs != 1:
        raise ValueError("--jobs and --dask: give one of them (the Dask cluster has its own workers)")
    done_keys = {task_key(r) for r in read_results(out)}
    todo, queued = [], set()
    for t in tasks:  # skip finished points, and run a point given twice (adc.bits=4,4) once
        k = task_key(t)
        if k not in done_keys and k not in queued:
            todo.append(t)
            queued.add(k)
    stats = {"total": len(tasks), "skipped": len(tasks) - len(todo), "done": 0}
    from tqdm import tqdm

    with results_lock(out):  # one sweep writes a results file at a time
        done_keys = {task_key(r) for r in read_results(out)}  # again: another sweep may have just finished
        todo = [t for t in todo if task_key(t) not in done_keys]
        stats["skipped"] = len(tasks) - len(todo)
        bar = tqdm(total=len(tasks), initial=stats["skipped"], disable=not progress, unit="point",
                   desc="sweep", dynamic_ncols=True)
        try:
            for task, result in _results(todo, evaluate, jobs, dask):
                append_record(out, _record(task, result))
                stats["done"] += 1
                bar.set_postfix_str(f"acc={result['accuracy']:.4f}")
                bar.update(1)
        finally:
            bar.close()
    return stats


def _results(todo: list[dict], evaluate, jobs: int, dask: str | None) -> Iterable[tuple[dict, dict]]:
    if not todo:
        return
    if dask is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError("--dask needs the optional 'distributed' extra: pip install 'refsim[distributed]'") \
                from None
        with Client(dask) as client:
            futures = {client.submit(evaluate, t, pure=False): t for t in todo}
            yield from _completed(futures, client)
        return
    if jobs == 1:
        for t in todo:
            yield t, evaluate(t)
        return
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=jobs, initializer=die_with_parent, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(evaluate, t): t for t in todo}
        yield from _completed(futures, None)
    finally:  # on an interruption, drop the points not started instead of waiting for them
        pool.shutdown(wait=True, cancel_futures=True)
