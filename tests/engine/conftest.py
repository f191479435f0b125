"""Fixtures of the engine room (no QGIS): the position model, a local dask cluster."""

from __future__ import annotations

import pytest
from s2cloudmask.inference.batch.cluster import local_cluster
from s2cloudmask.inference.batch.workers import plan_workers
from s2cloudmask.inference.masking.model_card import load_card
from s2cloudmask.inference.masking.session import create_session

from model_helpers import card_dict, position_model, write_card


@pytest.fixture(scope="module")
def position(tmp_path_factory) -> tuple:
    """The position model (its output is each pixel's column and row) with its card and a CPU session."""
    folder = tmp_path_factory.mktemp("position")
    model = write_card(position_model(folder / "position.onnx"),
                       card_dict(["column", "row"], tile=64, overlap=0.25, output="probabilities"))
    session, _ = create_session(model, "cpu", 1)
    return load_card(model), session


@pytest.fixture(scope="module")
def client():
    """A dask client on a LocalCluster of two single-threaded workers on this machine."""
    from dask.distributed import Client  # dask loads slowly: only where a test asks for a cluster

    with local_cluster(plan_workers(2, 4 * 1024**3, workers=2, threads=1)) as cluster, Client(cluster) as connected:
        yield connected
