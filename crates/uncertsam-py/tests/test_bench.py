"""uncertsam.bench against `uncertsam bench` with the same options: the same result bytes."""

import csv
import math
import subprocess

import pytest

import uncertsam
from uncertsam import metrics as um

OPTIONS = dict(quick=True, datasets=["Synth-Clean", "Synth-Shadow"], estimators=["entropy", "mc_dropout", "laplace_probit"],
               samples=3, refine="none", jobs=1)


def test_bench_equals_the_cli(uncertsam_cli, synth_data, tmp_path):
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    argv = ["bench", "--quick", "--datasets", "Synth-Clean,Synth-Shadow", "--estimators",
            "entropy,mc_dropout,laplace_probit", "--samples", "3", "--refine", "none", "--jobs", "1",
            "--data", str(synth_data), "--out", str(cli_out)]
    subprocess.run([str(uncertsam_cli), *argv], check=True, capture_output=True)
    summary, run_dir = uncertsam.bench(out=py_out, data=synth_data, **OPTIONS)
    assert run_dir == py_out
    for name in ("rows.csv", "summary.json", "summary.md"):
        assert (py_out / name).read_bytes() == (cli_out / name).read_bytes(), name
    assert isinstance(summary, (dict, list)) and summary
    # Every rows.csv metric column is a mask_metrics column.
    with open(py_out / "rows.csv") as f:
        header = next(csv.reader(f))
    assert header[5:] == list(um.COLUMNS)
    with pytest.raises(RuntimeError, match="already holds results"):
        uncertsam.bench(out=py_out, data=synth_data, **OPTIONS)
