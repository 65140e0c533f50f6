"""Call C libraries from Python: cffi's ABI-mode API on a native call path.

Switching from cffi is a change of import::

    from ffi_py import FFI
    ffi = FFI()
    ffi.cdef("long labs(long);")
    libc = ffi.dlopen(None)
    assert libc.labs(-5) == 5

The raw layer (libffi-level calls without declarations) is ``ffi_py.raw``.
"""

from ffi_py._native import (
    CDefError,
    FFIError,
    VerificationError,
    VerificationMissing,
    __version__,
)
from ffi_py._ffi import FFI

RTLD_NOW = FFI.RTLD_NOW
RTLD_LAZY = FFI.RTLD_LAZY
RTLD_GLOBAL = FFI.RTLD_GLOBAL
RTLD_LOCAL = FFI.RTLD_LOCAL
RTLD_NODELETE = FFI.RTLD_NODELETE

__all__ = [
    "FFI",
    "CDefError",
    "FFIError",
    "VerificationError",
    "VerificationMissing",
    "RTLD_NOW",
    "RTLD_LAZY",
    "RTLD_GLOBAL",
    "RTLD_LOCAL",
    "RTLD_NODELETE",
    "__version__",
]
