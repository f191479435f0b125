"""Execution providers: the CPU path, "auto" on this machine, "gpu" without a GPU, CUDA where one exists."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from model_helpers import utm_grid, write_raster
from s2cloudmask.inference.errors import ResourceError
from s2cloudmask.inference.feedback import SilentFeedback
from s2cloudmask.inference.masking.engine import mask_raster
from s2cloudmask.inference.masking.model_card import builtin_card
from s2cloudmask.inference.masking.session import SessionCache, create_session, gpu_providers, onnxruntime

CARD = builtin_card("L2A", ["B02", "B03", "B04", "B08"])
HAS_CUDA = "CUDAExecutionProvider" in onnxruntime().get_available_providers()


def test_cpu_session_runs_a_batch_of_tiles():
    session, device = create_session(CARD.model_path, "cpu", threads=1)
    assert device == "CPU" and session.get_providers()[0] == "CPUExecutionProvider"
    assert session.get_session_options().intra_op_num_threads == 1
    out = session.run(None, {"input": np.zeros((4, 4, 256, 256), np.float32)})[0]
    assert out.shape == (4, 3, 256, 256)


def test_a_session_cache_gives_a_worker_one_session_per_model_device_and_threads():
    cache = SessionCache()
    first, device = cache(CARD.model_path, "cpu", 1)
    again, _ = cache(CARD.model_path, "CPU", 1, SilentFeedback())
    other, _ = cache(CARD.model_path, "cpu", 2)
    assert again is first and other is not first and len(cache) == 2 and device == "CPU"


def test_all_cores_by_default():
    session, _ = create_session(CARD.model_path, "cpu")
    assert session.get_session_options().intra_op_num_threads == os.cpu_count()


@pytest.mark.skipif(bool(gpu_providers()), reason="this onnxruntime offers a GPU provider; 'auto' would use it")
def test_auto_reports_the_cpu_on_a_machine_without_gpu():
    _, device = create_session(CARD.model_path, "auto")
    assert device == "CPU"


@pytest.mark.skipif(bool(gpu_providers()), reason="this onnxruntime offers a GPU provider")
def test_gpu_without_gpu_provider_is_a_resource_error():
    with pytest.raises(ResourceError, match="DEVICE=gpu was asked for, but this onnxruntime offers no GPU provider"):
        create_session(CARD.model_path, "gpu")


def test_unknown_device_is_refused():
    with pytest.raises(ResourceError, match="Unknown device 'tpu'"):
        create_session(CARD.model_path, "tpu")


def test_result_names_the_device_that_ran(tmp_path):
    grid = utm_grid(64, 64)
    dn = np.full((4, 64, 64), 1500, np.uint16)
    raster = write_raster(tmp_path / "flat.tif", dn, grid)
    result = mask_raster(raster, tmp_path / "mask.tif", bands={"blue": 1, "green": 2, "red": 3, "nir": 4},
                         device="auto")
    assert result.device_used == ("CUDA" if HAS_CUDA else "CPU")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDAExecutionProvider in this onnxruntime (CPU build, or no CUDA GPU)")
def test_cuda_session_runs_on_the_gpu():
    session, device = create_session(CARD.model_path, "gpu")
    assert device == "CUDA" and session.get_providers()[0] == "CUDAExecutionProvider"
    out = session.run(None, {"input": np.zeros((4, 4, 256, 256), np.float32)})[0]
    assert out.shape == (4, 3, 256, 256)


def test_missing_onnxruntime_is_a_dependency_error(sandbox, tmp_path):
    code = (
        "from s2cloudmask.inference.masking.session import create_session\n"
        "from s2cloudmask.inference.errors import DependencyError\n"
        f"try:\n    create_session({CARD.model_path!r}, 'cpu')\n"
        "except DependencyError as exc:\n    print(exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(sandbox / "packages")
    env["S2CLOUDMASK_DEPS_ROOT"] = str(tmp_path)  # an empty dependency root: nothing installed
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "onnxruntime, ukis-csmask" in done.stdout and "Install dependencies" in done.stdout, done.stderr
