"""The README stays true: its Python example runs, and its quick-start main job runs."""

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no Python example"
    return blocks


def test_readme_python_example_runs():
    for code in _python_blocks():
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
        assert isinstance(namespace.get("xb"), __import__("refsim").Crossbar)


def test_readme_python_example_computes_and_prints_its_error():
    """The example's crossbar computes something (no DeadCrossbarWarning, codes not all zero) and
    the relative error it prints is the one of its output against the exact x @ W, and small."""
    import contextlib
    import io
    import warnings

    import numpy as np

    code = _python_blocks()[0]
    namespace: dict = {}
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dead crossbar (or any other warning) fails the test
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    printed = re.search(r"relative error ([0-9.]+)", out.getvalue())
    assert printed, f"the example prints no relative error: {out.getvalue()!r}"
    tr, x, W = namespace["tr"], namespace["x"], namespace["W"]
    ref = x @ W  # the exact product, independent of refsim
    err = np.linalg.norm(tr.y - ref) / np.linalg.norm(ref)
    assert float(printed.group(1)) == round(err, 3)
    assert 0.02 < err < 0.25  # 6-bit ADC, 2 % programming error, wires: a few to ~15 %
    assert tr.adc_zero_fraction < 0.5 and tr.adc_levels_used >= 8
    # the numbers the README's text quotes for this example
    text = README.read_text()
    quoted = re.search(r"It prints `relative error ([0-9.]+); ADC codes: (\d+) levels used, (\d+)% zero", text)
    assert quoted, "the README does not quote the example's output"
    assert float(quoted.group(1)) == round(err, 3)
    assert int(quoted.group(2)) == tr.adc_levels_used
    assert int(quoted.group(3)) == round(100 * tr.adc_zero_fraction)


def test_readme_dead_adc_variant_warns():
    """What the README says of the int8 preset's "max" ADC range: the same example's 6-bit ADC
    outputs almost only zeros, and refsim warns, once, naming the fields to change."""
    import numpy as np
    import pytest

    import refsim
    from refsim.health import DeadCrossbarWarning

    code = _python_blocks()[0]
    assert code.count('presets.get("int8_bounded")') == 1
    namespace: dict = {}
    with pytest.warns(DeadCrossbarWarning, match="adc.range_mode") as rec:
        exec(compile(code.replace('presets.get("int8_bounded")', 'presets.get("int8")'), "README.md", "exec"),
             namespace)  # noqa: S102 - our own README
    assert [r.category for r in rec] == [DeadCrossbarWarning]  # once, for the one crossbar
    tr = namespace["tr"]
    assert isinstance(namespace["xb"], refsim.Crossbar)
    x, W = namespace["x"], namespace["W"]
    err = np.linalg.norm(tr.y - x @ W) / np.linalg.norm(x @ W)
    assert tr.clip_fraction == 0.0 and tr.adc_zero_fraction > 0.95 and tr.adc_levels_used <= 3 and err > 0.9
    text = " ".join(README.read_text().split())
    assert "rounds 97 % of the currents to code 0" in text and "the relative error is 0.97" in text
    assert round(100 * tr.adc_zero_fraction) == 97 and round(err, 2) == 0.97


def test_readme_quick_start_main_job_runs(run):
    text = README.read_text()
    quick = re.search(r"```bash\npip install -e \"\.\[test\]\" && refsim (.*?)\n", text)
    assert quick, "the quick start's first command is not 'pip install ... && refsim ...'"
    argv = quick.group(1).split()
    code, out, err = run(*argv, "--no-progress", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["preset"] == "int8_bounded" and result["model"] == "resnet18"
    # --report: one row per crossbar layer; 8-bit converters cost a few percent at the logits
    assert len(result["layers"]) == result["n_layers"] == 21
    assert 0.0 < result["logit_rel_error"] < 0.2
