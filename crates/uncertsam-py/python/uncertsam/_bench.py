"""The benchmark from Python, with the CLI's options."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Tuple

from . import _native


def _flag(key: str, value: Any) -> list:
    name = "--" + key.replace("_", "-")
    if value is True:
        return [name]
    if value is False or value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [name, ",".join(str(v) for v in value)]
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return [name, str(value)]


def bench(out: "str | os.PathLike[str]" = "runs/bench", **options: Any) -> Tuple[Dict[str, Any], Path]:
    """Runs ``uncertsam bench`` in this process and returns ``(summary, run_dir)``.

    ``options`` are the CLI's, spelt with underscores: ``quick=True``, ``datasets=[...]``,
    ``estimators=[...]``, ``samples=10``, ``prompt="box"``, ``seed=0``, ``data=...``,
    ``checkpoint=...``, ``model=...``, ``random_init=True``, ``refine="none"``, ``resume=True``,
    ... (lists are joined with commas; ``True`` is a bare flag). ``summary`` is the run's
    ``summary.json``; the run directory holds ``rows.csv``, ``summary.md`` and the plots,
    the same bytes as the CLI's run with the same options. The run is one process
    (``jobs`` is ignored: any ``--jobs`` gives the same bytes) on the CPU backend; the GIL is
    released while it runs. Raises ValueError for an unknown option, RuntimeError when the
    run fails (e.g. ``out`` already holds results and ``resume`` is not set).
    """
    argv = ["--out", os.fspath(out)]
    for k, v in options.items():
        if k in ("out", "list_estimators", "secondary_worker", "shard"):
            raise ValueError(f"bench option {k!r} is not supported from Python")
        argv += _flag(k, v)
    run_dir, _done, _bad = _native.bench(argv)
    path = Path(run_dir)
    return json.loads((path / "summary.json").read_text()), path
