"""Training engine of honeyimage.protect (Rust + libtorch). Use
``honeyimage.protect`` / ``honeyimage.protect_path``, which check the torch
version before this loads."""

from typing import Any, Callable, Dict, List, Optional, Tuple

__version__: str

def default_config() -> str: ...
def best_precision() -> str: ...
def protect_arrays(
    pixels: bytes,
    shape: Tuple[int, int, int, int],
    labels: List[int],
    class_names: List[str],
    config_json: str,
    work: str,
    name: str,
    progress: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> Tuple[bytes, List[int], bytes, str]: ...
def protect_path(
    data: str,
    out: str,
    key: str,
    config_json: str,
    work: str,
    split: str = "train",
    format: Optional[str] = None,
    passphrase: Optional[str] = None,
    progress: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> str: ...
