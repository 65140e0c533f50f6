"""Library objects returned by ``FFI.dlopen``."""


class Lib:
    """The functions, global variables and constants an ``FFI`` declared,
    found in one library.

    A name is resolved on first use; functions and constants are then kept
    as ordinary instance attributes, so later lookups are plain attribute
    hits, which CPython 3.12 and later specialise. (No ``__slots__``, and
    attributes set with ``object.__setattr__``: either would keep CPython
    from specialising them.) Global variables are read and written in C
    memory on every access.
    """

    def __init__(self, core):
        object.__setattr__(self, "_ffi_py_core", core)

    def __getattr__(self, name):
        value, cacheable = self._ffi_py_core.resolve(name)
        if cacheable:
            object.__setattr__(self, name, value)
        return value

    def __setattr__(self, name, value):
        self._ffi_py_core.set_global(name, value)

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete {name!r} from {self!r}")

    def __dir__(self):
        return self._ffi_py_core.names()

    def __repr__(self):
        return repr(self._ffi_py_core)

    def _ffi_py_forget(self):
        """Drops every cached name (``ffi.dlclose``)."""
        core = self._ffi_py_core
        self.__dict__.clear()
        object.__setattr__(self, "_ffi_py_core", core)
