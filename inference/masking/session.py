"""ONNX Runtime sessions on the best device available, and the plain truth about which one ran.

"auto" tries CUDA, then DirectML, then CoreML, then the CPU, using only the
providers this onnxruntime build lists. A GPU session that cannot start (driver
or library missing) falls back to the CPU with a warning instead of failing
the run; asking explicitly for "gpu" where no GPU provider exists is an error,
because the user expects a GPU run.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...packages.activation import missing_message, missing_modules
from ..cores import usable_cores
from ..defaults import DEVICES
from ..errors import DependencyError, ModelError, ResourceError
from ..feedback import Feedback, SilentFeedback
from .model_graph import free_spatial_dims

DEVICE_NAMES: dict[str, str] = {
    "CUDAExecutionProvider": "CUDA",
    "DmlExecutionProvider": "DirectML",
    "CoreMLExecutionProvider": "CoreML",
    "CPUExecutionProvider": "CPU",
}
GPU_PROVIDERS = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")
CPU_PROVIDER = "CPUExecutionProvider"

# (model path, device, threads, feedback, free_spatial=False) -> (session, device used): create_session, or a
# SessionCache
SessionFactory = Callable[..., tuple[Any, str]]


def onnxruntime() -> Any:
    """The onnxruntime module, or DependencyError saying how to install it."""
    try:
        import onnxruntime as ort  # optional until installed: the plugin loads without it
    except ImportError as exc:
        raise DependencyError(missing_message(missing_modules() or ["onnxruntime"])) from exc
    return ort


def gpu_providers() -> list[str]:
    """GPU providers this onnxruntime build offers, in the order "auto" tries them."""
    available = onnxruntime().get_available_providers()
    return [p for p in GPU_PROVIDERS if p in available]


def _options(threads: int) -> Any:
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads > 0 else usable_cores()
    # Idle worker threads sleep instead of spinning: spinning kept the cores busy that the read-ahead thread,
    # QGIS and other programs need, and made a run 20-30 % slower on a busy 2-core machine (docs/benchmarks.md)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def _open(path: Path, providers: list[str], threads: int, free_spatial: bool) -> Any:
    ort = onnxruntime()
    model: str | bytes = free_spatial_dims(path.read_bytes(), str(path)) if free_spatial else str(path)
    return ort.InferenceSession(model, sess_options=_options(threads), providers=providers)


ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : [A-Z_]+ : ")
WHAT_TO_CHOOSE = ("Choose an .onnx file exported for ONNX Runtime (download it again if it came from the web), or "
                  "'auto' for the built-in models.")


def _looks_like_text(head: bytes) -> bool:
    """The first bytes of a file read as text (an ONNX file is binary protobuf from its first byte on)."""
    if not head or b"\x00" in head:
        return False
    decoded = head.decode("utf-8", errors="replace")
    return sum(char.isprintable() or char in "\r\n\t" for char in decoded) >= 0.95 * len(decoded)


def _not_onnx(path: Path, exc: Exception) -> ModelError:
    """What to tell when onnxruntime cannot load a model file: what the file is, in words, and what to do."""
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError:
        head = b""
    reason = ORT_PREFIX.sub("", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]
    if not head:
        what = "is empty, not an ONNX model"
    elif _looks_like_text(head):
        what = "is a text file (a web page or a note saved under a model's name, for example), not an ONNX model"
    elif "INVALID_PROTOBUF" in str(exc) or isinstance(exc, ModelError):
        what = "is not an ONNX model: its content does not read as one (damaged, cut short, or another kind of file)"
    else:
        what = f"is an ONNX file that ONNX Runtime cannot load ({reason})"
    return ModelError(f"The model file {path} {what}. {WHAT_TO_CHOOSE}")


def open_for_metadata(model_path: str | Path) -> Any:
    """A cheap CPU session (no graph optimisation) to read a model's metadata and shapes."""
    path = Path(model_path)
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=[CPU_PROVIDER])
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        raise _not_onnx(path, exc) from exc


def device_of(session: Any) -> str:
    """The device that actually runs the session (its first provider)."""
    provider = session.get_providers()[0]
    return DEVICE_NAMES.get(provider, provider.removesuffix("ExecutionProvider"))


def create_session(
    model_path: str | Path, device: str = "auto", threads: int = 0, feedback: Feedback | None = None,
    free_spatial: bool = False,
) -> tuple[Any, str]:
    """One session for the whole run, on `device` ("auto", "cpu" or "gpu"); returns (session, device used).

    free_spatial: load the model with free rows and columns (model_graph.py), for tiles of any size.
    """
    feedback = feedback or SilentFeedback()
    onnxruntime()
    path = Path(model_path)
    device = device.lower()
    if device not in DEVICES:
        raise ResourceError(f"Unknown device {device!r}; use one of {', '.join(DEVICES)}.")
    if not path.is_file():
        raise ModelError(f"The model file {path} does not exist; give the path to an .onnx file or 'auto'.")
    gpus = gpu_providers() if device != "cpu" else []
    if "CUDAExecutionProvider" in gpus and hasattr(onnxruntime(), "preload_dlls"):
        # onnxruntime-gpu finds CUDA and cuDNN in the nvidia-* wheels beside it (make bench-gpu installs them
        # so); where they are missing the session below uses the system's libraries, or falls back to the CPU
        try:
            onnxruntime().preload_dlls()
        except (OSError, RuntimeError) as exc:
            feedback.warn(f"CUDA libraries could not be preloaded ({str(exc).splitlines()[0][:200]}).")
    if device == "gpu" and not gpus:
        raise ResourceError(
            "DEVICE=gpu was asked for, but this onnxruntime offers no GPU provider (CUDA, DirectML or CoreML); "
            "install onnxruntime-gpu (CUDA) or onnxruntime-directml, or choose DEVICE=auto or cpu."
        )
    for provider in gpus:
        try:
            session = _open(path, [provider, CPU_PROVIDER], threads, free_spatial)
        except Exception as exc:  # a GPU provider can fail in many driver-specific ways
            try:
                open_for_metadata(path)
            except ModelError:
                raise _not_onnx(path, exc) from exc
            feedback.warn(f"{DEVICE_NAMES[provider]} could not start ({str(exc).splitlines()[0][:200]}); trying the next device.")
            continue
        if device_of(session) != "CPU":
            return session, device_of(session)
        feedback.warn(f"{DEVICE_NAMES[provider]} is installed but did not take the model; running on the CPU.")
        return session, "CPU"
    if gpus:
        feedback.warn("No GPU session could start; running on the CPU.")
    try:
        session = _open(path, [CPU_PROVIDER], threads, free_spatial)
    except Exception as exc:
        raise _not_onnx(path, exc) from exc
    return session, device_of(session)


class SessionCache:
    """create_session that keeps its sessions: the same model, device and threads get the same session.

    A batch worker masks product after product; building a session (and on a GPU,
    moving the model onto the card) once per worker instead of once per product
    is what makes small products cheap. The warnings the first creation gave
    (a GPU that fell back to the CPU) are repeated to every caller, so each
    product's result still says them.
    """

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str, int, bool], tuple[Any, str, list[str]]] = {}
        self._lock = threading.Lock()

    def __call__(
        self, model_path: str | Path, device: str = "auto", threads: int = 0, feedback: Feedback | None = None,
        free_spatial: bool = False,
    ) -> tuple[Any, str]:
        feedback = feedback or SilentFeedback()
        key = (str(Path(model_path).resolve()), device.lower(), int(threads), free_spatial)
        with self._lock:
            if key not in self._sessions:
                collected = SilentFeedback()
                session, device_used = create_session(model_path, device, threads, collected, free_spatial)
                self._sessions[key] = (session, device_used, collected.warnings)
            session, device_used, warnings = self._sessions[key]
        for message in warnings:
            feedback.warn(message)
        return session, device_used

    def __len__(self) -> int:
        return len(self._sessions)
