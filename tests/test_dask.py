"""--engine dask writes the same tables (as a partitioned dataset) as the local run."""
from __future__ import annotations

import pytest

from conftest import read_tables
from pipeline.records import TABLES
from pipeline.run import RunOptions, run

pytest.importorskip("distributed", reason="the dask extra is not installed (pip install '.[dask]')")


@pytest.mark.slow
def test_dask_local_cluster_matches_local_run(tmp_path, corpus_dir):
    run([corpus_dir], tmp_path / "local", RunOptions(jobs=1, progress=False))
    run([corpus_dir], tmp_path / "dask", RunOptions(jobs=2, progress=False, engine="dask"))
    assert (tmp_path / "dask" / "quantities").is_dir()          # a partitioned dataset
    a, b = read_tables(tmp_path / "local"), read_tables(tmp_path / "dask")
    for t in TABLES:
        assert a[t] == b[t], t
