"""Library objects returned by ``FFI.dlopen``."""


class Lib:
    """The functions, global variables and constants an ``FFI`` declared,
    found in one library.

    A name is resolved on first use and functions and constants are then
    kept in the instance ``__dict__``, so later lookups are ordinary
    attribute hits. Global variables are read and written in C memory on
    every access.
    """

    __slots__ = ("_core", "__dict__", "__weakref__")

    def __init__(self, core):
        object.__setattr__(self, "_core", core)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value, cacheable = self._core.resolve(name)
        if cacheable:
            self.__dict__[name] = value
        return value

    def __setattr__(self, name, value):
        self._core.set_global(name, value)

    def __dir__(self):
        return self._core.names()

    def __repr__(self):
        return repr(self._core)
