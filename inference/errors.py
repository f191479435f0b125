"""The engine's own exceptions.

Each one carries a message meant for the user: it names the file involved and
says what to do. Callers turn them into QgsProcessingException or a message bar
entry without adding a traceback.
"""


class CloudMaskError(Exception):
    """Base of every failure a user can cause or fix."""


class ProductError(CloudMaskError):
    """The input is not a readable Sentinel-2 product (or not one we support)."""


class RemoteError(ProductError):
    """A remote file (a STAC item, one of its assets) cannot be fetched: refused, not found, or out of reach."""


class BandError(CloudMaskError):
    """A band the model needs is missing, or a band stack has the wrong shape."""


class SampleError(CloudMaskError):
    """Training samples for a reference mask are unusable (empty, too few, outside the product, unknown class)."""


class SamplesOutside(SampleError):
    """Samples lie outside the scene; `feature_ids` names them, so a dock can offer to drop them."""

    def __init__(self, message: str, feature_ids: tuple = ()) -> None:
        super().__init__(message)
        self.feature_ids = tuple(feature_ids)


class ModelError(CloudMaskError):
    """The model file or its card is unusable."""


class ParameterError(CloudMaskError):
    """A parameter value (scale, offset, extent, ...) that cannot mean anything sensible."""


class OutputError(CloudMaskError):
    """An output cannot be written where asked."""


class DependencyError(CloudMaskError):
    """A Python package the engine needs (onnxruntime, ukis-csmask) is missing."""


class ResourceError(CloudMaskError):
    """The machine lacks the memory or device the run asks for."""


class TrainingError(CloudMaskError):
    """A patch folder cannot be trained on, or the training environment or run failed."""


class Cancelled(CloudMaskError):
    """The user cancelled the run; nothing that looks finished was left behind."""
