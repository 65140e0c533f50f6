"""The ``FFI`` class: the native one, plus what is simplest in Python."""

import threading

from ffi_py._buffer import buffer as _buffer
from ffi_py._native import FFI as _NativeFFI


class FFI(_NativeFFI):
    __doc__ = _NativeFFI.__doc__
    __slots__ = ()

    # The buffer type with the buffer protocol (PEP 688, CPython 3.12+); the
    # native type cannot export it under the 3.10 stable ABI.
    buffer = _buffer

    def init_once(self, func, tag):
        """Calls ``func()`` the first time a ``tag`` is seen on this FFI and
        returns its result, then returns that same result for the tag
        without calling again. Threads asking for a tag whose ``func`` is
        running wait for it; if ``func`` raises, the next call tries again.
        """
        state = self.__dict__.get("_ffi_py_init_once")
        if state is None:
            # setdefault is atomic: two threads get the same state.
            state = self.__dict__.setdefault("_ffi_py_init_once", ({}, {}))
        results, locks = state
        try:
            return results[tag][0]
        except KeyError:
            pass
        with locks.setdefault(tag, threading.Lock()):
            if tag not in results:
                results[tag] = (func(),)
        return results[tag][0]


FFI.__module__ = "ffi_py"
