"""Type stubs for ffi_py.raw: libffi-level calls with signatures built at run time."""

import os
from typing import Any, Callable, Optional, Sequence, Union

class Type:
    """A raw type: a scalar named by width, ``ptr``, ``longdouble`` or ``void``."""

    def __init__(self, name: str) -> None: ...
    @property
    def size(self) -> int: ...
    @property
    def alignment(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str:
        """``"void"``, ``"int"``, ``"float"``, ``"pointer"``, ``"struct"`` or ``"array"``."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

# Anywhere a type is expected, its name is accepted too ("i32", "ptr", ...).
TypeLike = Union[Type, str]

class Struct(Type):
    """A struct with the natural C layout of its fields."""

    def __init__(self, fields: Sequence[TypeLike]) -> None: ...
    @property
    def fields(self) -> tuple[Type, ...]: ...
    @property
    def offsets(self) -> list[int]: ...

class Array(Type):
    """``item[length]``: a struct field or a unit of memory (never an argument)."""

    def __init__(self, item: TypeLike, length: int) -> None: ...
    @property
    def item(self) -> Type: ...
    @property
    def length(self) -> int: ...

void: Type
i8: Type
u8: Type
i16: Type
u16: Type
i32: Type
u32: Type
i64: Type
u64: Type
f32: Type
f64: Type
longdouble: Type
ptr: Type

def c_type(name: str) -> Type:
    """The raw type of a C scalar type on this platform: ``c_type("long") == i64``."""

RTLD_NOW: int
RTLD_LAZY: int
RTLD_GLOBAL: int
RTLD_LOCAL: int
RTLD_NODELETE: int

class Library:
    """A shared library (``dlopen``), or the running process for None."""

    def __init__(
        self, name: Union[str, bytes, os.PathLike[str], None], flags: int = 0
    ) -> None: ...
    def symbol(self, name: str) -> Symbol:
        """The symbol's address; AttributeError if there is none."""
    def close(self) -> None:
        """Drops this object's hold; symbols and functions keep the library loaded."""
    @property
    def closed(self) -> bool: ...
    @property
    def name(self) -> str: ...
    def __enter__(self) -> Library: ...
    def __exit__(self, *exc: object) -> bool: ...

class Symbol:
    """An address in a library; holds the library loaded."""

    @property
    def address(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def library(self) -> str: ...

class Memory:
    """Owned, zeroed, bounds-checked memory."""

    def __init__(self, size: int, align: int = 16) -> None: ...
    @staticmethod
    def from_bytes(data: Union[bytes, bytearray]) -> Memory: ...
    @property
    def address(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def freed(self) -> bool: ...
    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    def read(self, type: TypeLike, offset: int = 0) -> Any: ...
    def write(self, type: TypeLike, offset: int, value: Any) -> None: ...
    def read_bytes(self, offset: int = 0, size: Optional[int] = None) -> bytes: ...
    def write_bytes(self, offset: int, data: Union[bytes, bytearray]) -> None: ...
    def free(self) -> None: ...
    def __enter__(self) -> Memory: ...
    def __exit__(self, *exc: object) -> bool: ...

# What a ptr accepts: an address, None (NULL), or an object with an address.
# bytes are accepted as call arguments only (read-only for C).
Address = Union[int, None, Memory, Symbol, "Callback", "Function"]

def alloc(type: TypeLike, n: int = 1) -> Memory:
    """Zeroed memory for ``n`` values of ``type``."""

def peek(type: TypeLike, address: Address) -> Any:
    """UNCHECKED: the value at ``address``; a wrong address crashes the process."""

def poke(type: TypeLike, address: Address, value: Any) -> None:
    """UNCHECKED: writes ``value`` at ``address``."""

def peek_bytes(address: Address, size: int) -> bytes:
    """UNCHECKED: ``size`` bytes at ``address``."""

def poke_bytes(address: Address, data: Union[bytes, bytearray]) -> None:
    """UNCHECKED: copies ``data`` to ``address``."""

def peek_string(address: Address, maxlen: Optional[int] = None) -> bytes:
    """UNCHECKED: the NUL-terminated string at ``address``."""

def get_errno() -> int:
    """errno as saved by the last ``errno=True`` call on this thread (= ``ffi.errno``)."""

def set_errno(value: int) -> None:
    """The errno the next ``errno=True`` call on this thread starts with."""

class Function:
    """A C function at an address, called with raw types."""

    def __init__(
        self,
        address: Union[int, Symbol, Callback, Function],
        argtypes: Sequence[TypeLike],
        restype: Optional[TypeLike] = None,
        *,
        variadic: Optional[Sequence[TypeLike]] = None,
        errno: bool = False,
        release_gil: bool = True,
        name: Optional[str] = None,
    ) -> None: ...
    def __call__(self, *args: Any) -> Any: ...
    @property
    def address(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def argtypes(self) -> tuple[Type, ...]: ...
    @property
    def variadic(self) -> Optional[tuple[Type, ...]]: ...
    @property
    def restype(self) -> Type: ...
    @property
    def errno(self) -> bool: ...
    @property
    def release_gil(self) -> bool: ...

class Callback:
    """A C function pointer calling a Python callable; keep it alive while C may call it."""

    def __init__(
        self,
        callable: Callable[..., Any],
        argtypes: Sequence[TypeLike],
        restype: Optional[TypeLike] = None,
        *,
        default: Any = None,
    ) -> None: ...
    @property
    def address(self) -> int: ...
    @property
    def callable(self) -> Callable[..., Any]: ...
    @property
    def argtypes(self) -> tuple[Type, ...]: ...
    @property
    def restype(self) -> Type: ...
