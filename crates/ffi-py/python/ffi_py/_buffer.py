"""``ffi.buffer``: the native buffer type, plus the buffer protocol.

The stable ABI of CPython 3.10 (which the extension targets) has no way for
a native type to export the buffer protocol. CPython 3.12 added one at the
Python level (PEP 688, ``__buffer__``), which this subclass implements: the
memoryview it returns is over a ctypes array at the same address, and that
array holds this buffer, so the memory outlives every view of it.
"""

import ctypes

from ffi_py._native import buffer as _native_buffer


class buffer(_native_buffer):
    """The bytes of a cdata: ``ffi.buffer(cdata, size=-1)``."""

    __slots__ = ()

    def __buffer__(self, flags):
        address, size = self._ffi_py_memory()
        if size == 0:
            return memoryview(b"")
        array = (ctypes.c_char * size).from_address(address)
        array._ffi_py_keepalive = self
        return memoryview(array).cast("B")
