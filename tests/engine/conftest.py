"""Fixtures of the engine room (no QGIS)."""

from __future__ import annotations

import pytest
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
