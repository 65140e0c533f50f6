"""The raw layer: call C through libffi with signatures built at run time.

The Python face of the ``ffi-raw`` crate (the analog of PyPy's
``_rawffi``), for code that builds its own typed layer. There are no C
declarations: types are named by width, and C names are translated by
``c_type``::

    from ffi_py import raw
    libc = raw.Library(None)                      # the running process
    labs = raw.Function(libc.symbol("labs"), [raw.c_type("long")], raw.c_type("long"))
    assert labs(-5) == 5

Types: ``void``, ``i8``, ``u8``, ``i16``, ``u16``, ``i32``, ``u32``, ``i64``,
``u64``, ``f32``, ``f64``, ``longdouble``, ``ptr`` (module constants, or
their names as strings), ``Struct([...])`` and ``Array(type, n)``.

Values: integers are ints (range-checked), floats are floats, ``ptr`` is
an address (int; None is NULL; a ``Memory``, ``Symbol``, ``Callback`` or
``Function`` stands for its address; ``bytes`` as a call argument point to
their own buffer), structs and arrays are ``bytes``.

``peek``, ``poke``, ``peek_bytes``, ``poke_bytes`` and ``peek_string``
access memory at any address without checks: a wrong address crashes the
process. Everything else checks what it can and raises.
"""

from ffi_py._native import raw as _raw

Type = _raw.Type
Struct = _raw.Struct
Array = _raw.Array
Library = _raw.Library
Symbol = _raw.Symbol
Function = _raw.Function
Callback = _raw.Callback
Memory = _raw.Memory

c_type = _raw.c_type
alloc = _raw.alloc
peek = _raw.peek
poke = _raw.poke
peek_bytes = _raw.peek_bytes
poke_bytes = _raw.poke_bytes
peek_string = _raw.peek_string
get_errno = _raw.get_errno
set_errno = _raw.set_errno

void = _raw.void
i8 = _raw.i8
u8 = _raw.u8
i16 = _raw.i16
u16 = _raw.u16
i32 = _raw.i32
u32 = _raw.u32
i64 = _raw.i64
u64 = _raw.u64
f32 = _raw.f32
f64 = _raw.f64
longdouble = _raw.longdouble
ptr = _raw.ptr

RTLD_NOW = _raw.RTLD_NOW
RTLD_LAZY = _raw.RTLD_LAZY
RTLD_GLOBAL = _raw.RTLD_GLOBAL
RTLD_LOCAL = _raw.RTLD_LOCAL
RTLD_NODELETE = _raw.RTLD_NODELETE

__all__ = [
    "Type", "Struct", "Array", "Library", "Symbol", "Function", "Callback",
    "Memory", "c_type", "alloc", "peek", "poke", "peek_bytes", "poke_bytes",
    "peek_string", "get_errno", "set_errno",
    "void", "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f32",
    "f64", "longdouble", "ptr",
    "RTLD_NOW", "RTLD_LAZY", "RTLD_GLOBAL", "RTLD_LOCAL", "RTLD_NODELETE",
]
