"""The exceptions honeyimage raises, with the command line's one-line messages.

Every error is a :class:`HoneyImageError`; the subclasses say what was at
fault, and those about a bad value are also :class:`ValueError` (and file
faults :class:`OSError`), so ordinary ``except`` clauses keep working.
Ctrl-C during :func:`honeyimage.protect` raises :class:`KeyboardInterrupt`.
"""

__all__ = ["HoneyImageError", "DataError", "KeyFileError", "SuspectError", "InvalidArgument", "FileError", "EngineMissing"]


class HoneyImageError(Exception):
    """Anything honeyimage refused or failed to do."""


class DataError(HoneyImageError, ValueError):
    """A dataset (file or arrays) is malformed: shape, labels, format."""


class KeyFileError(HoneyImageError, ValueError):
    """A key is corrupt, tampered with, encrypted without a passphrase, or
    for another release."""


class SuspectError(HoneyImageError):
    """The suspect model misbehaved: its predict function raised (the
    original exception is the ``__cause__``), or answered with the wrong
    shape, non-finite or negative scores, or labels out of range."""


class InvalidArgument(HoneyImageError, ValueError):
    """A setting is out of its valid range."""


class FileError(HoneyImageError, OSError):
    """A file could not be read or written."""


class EngineMissing(HoneyImageError, ImportError):
    """:func:`honeyimage.protect` needs the training engine
    (``honeyimage-protect``) and the torch version it was built against."""
