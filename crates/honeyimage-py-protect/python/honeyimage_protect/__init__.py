"""The training engine of :func:`honeyimage.protect`. Import ``honeyimage``,
not this: it checks the torch version before the engine loads."""

# The torch whose libtorch the engine is linked against (pyproject pins it).
TORCH_VERSION = "2.13.0"
