"""Call C libraries from Python: a cffi-compatible API on a native call path."""

from ffi_py._native import __version__

__all__ = ["__version__"]
