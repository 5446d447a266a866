"""The README stays true: its Python example runs, and its quick-start main job runs."""

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no Python example"
    for code in blocks:
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
        assert isinstance(namespace.get("xb"), __import__("refsim").Crossbar)


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
