"""CSV lists of inputs: paths relative to the list, and clear messages for a list a user got wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from s2cloudmask.inference.errors import ProductError
from s2cloudmask.inference.reading.lists import read_path_rows


def test_paths_are_read_from_the_lists_folder_and_extra_columns_as_text(tmp_path: Path) -> None:
    listing = tmp_path / "pairs.csv"
    listing.write_text("mask,reference,mask_type\na/m.tif, r.tif ,scl\n/abs/m2.tif,r2.tif,\n", encoding="utf-8")
    rows = read_path_rows(listing, ("mask", "reference"), "pairs", extra=("mask_type",))
    assert rows == [
        {"mask": str(tmp_path / "a" / "m.tif"), "reference": str(tmp_path / "r.tif"), "mask_type": "scl"},
        {"mask": "/abs/m2.tif", "reference": str(tmp_path / "r2.tif"), "mask_type": ""},
    ]


@pytest.mark.parametrize("text, message", [
    ("product;reference\nx;y\n", r"needs a header line with the columns product and reference"),
    ("", r"needs a header line"),
    ("product,reference\nx.SAFE,\n", r"Line 2 of .* lacks a value in product and reference"),
])
def test_a_wrong_list_names_the_file_and_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    listing = tmp_path / "scenes.csv"
    listing.write_text(text, encoding="utf-8")
    with pytest.raises(ProductError, match=message):
        read_path_rows(listing, ("product", "reference"), "products")


def test_a_missing_list_says_so(tmp_path: Path) -> None:
    with pytest.raises(ProductError, match=r"Cannot read the list of pairs .*missing.csv"):
        read_path_rows(tmp_path / "missing.csv", ("mask", "reference"), "pairs")
