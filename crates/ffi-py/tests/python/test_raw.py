"""ffi_py.raw: the raw layer (types by width, Struct/Array, Library/Symbol,
Function, Memory, peek/poke, Callback) against libc, libm, the helper
library and ctypes as an independent reference; and every bad input it
must refuse with a specific exception instead of crashing."""

import ctypes
import errno
import gc
import os
import random
import shutil
import struct
import sys
import textwrap
import threading

import pytest

from _support import ON_CFFI, longest_stall_during, message_has, run_python

if ON_CFFI:
    pytest.skip("ffi_py.raw has no cffi counterpart", allow_module_level=True)

from ffi_py import raw  # noqa: E402

pytestmark = pytest.mark.ffi_py_only

INT_TYPES = ["i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64"]
CTYPES_OF = {
    "i8": ctypes.c_int8, "u8": ctypes.c_uint8, "i16": ctypes.c_int16,
    "u16": ctypes.c_uint16, "i32": ctypes.c_int32, "u32": ctypes.c_uint32,
    "i64": ctypes.c_int64, "u64": ctypes.c_uint64, "f32": ctypes.c_float,
    "f64": ctypes.c_double, "longdouble": ctypes.c_longdouble,
    "ptr": ctypes.c_void_p,
}
# The helper library's identity function for each integer type.
HELPER_ID = {
    "i8": "schar", "u8": "uchar", "i16": "short", "u16": "ushort",
    "i32": "int", "u32": "uint", "i64": "llong", "u64": "ullong",
}


def int_range(name):
    bits = 8 * raw.Type(name).size
    if name.startswith("i"):
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


@pytest.fixture
def libc():
    return raw.Library(None)


@pytest.fixture
def helper_lib(helper_path):
    return raw.Library(str(helper_path))


def func(lib, name, argtypes, restype, **kw):
    return raw.Function(lib.symbol(name), argtypes, restype, **kw)


@pytest.fixture
def unraisable(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


# --- types -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CTYPES_OF))
def test_scalar_types_have_the_c_size_and_alignment(name):
    ty = raw.Type(name)
    assert ty == getattr(raw, name) and hash(ty) == hash(getattr(raw, name))
    assert ty.name == name
    assert (ty.size, ty.alignment) == (
        ctypes.sizeof(CTYPES_OF[name]), ctypes.alignment(CTYPES_OF[name]))
    assert name in repr(ty)


def test_type_kinds():
    kinds = {n: raw.Type(n).kind for n in ["void", "i8", "u64", "f32", "longdouble", "ptr"]}
    assert kinds == {"void": "void", "i8": "int", "u64": "int", "f32": "float",
                     "longdouble": "float", "ptr": "pointer"}
    assert raw.Struct(["i8"]).kind == "struct" and raw.Array("i8", 2).kind == "array"
    assert raw.void.size == 0


def test_an_unknown_type_name_is_a_value_error_with_the_names():
    with pytest.raises(ValueError) as e:
        raw.Type("int32")
    message_has(e, "'int32'", "i32", "ptr")
    with pytest.raises(ValueError) as e:
        raw.Function(0x1000, ["int"], "i32")
    message_has(e, "argtypes[0]", "c_type('int')")


@pytest.mark.parametrize("bad", [3, 1.5, None, b"i32", object()])
def test_a_non_type_is_a_type_error(bad):
    with pytest.raises(TypeError) as e:
        raw.alloc(bad)
    message_has(e, "expected a raw type")


@pytest.mark.parametrize("c_name, ctype", [
    ("char", None), ("signed char", ctypes.c_byte), ("unsigned char", ctypes.c_ubyte),
    ("short", ctypes.c_short), ("unsigned short", ctypes.c_ushort),
    ("int", ctypes.c_int), ("unsigned int", ctypes.c_uint),
    ("long", ctypes.c_long), ("unsigned  long", ctypes.c_ulong),
    ("long long", ctypes.c_longlong), ("unsigned long long", ctypes.c_ulonglong),
    ("size_t", ctypes.c_size_t), ("ssize_t", ctypes.c_ssize_t),
    ("float", ctypes.c_float), ("double", ctypes.c_double),
    ("long double", ctypes.c_longdouble), ("_Bool", ctypes.c_bool),
])
def test_c_type_translates_c_names_by_the_platform(c_name, ctype):
    ty = raw.c_type(c_name)
    if ctype is not None:
        assert ty.size == ctypes.sizeof(ctype)
        if ctype in (ctypes.c_float, ctypes.c_double, ctypes.c_longdouble):
            assert ty.kind == "float"
        else:
            signed = ctype(-1).value == -1
            assert ty.kind == "int" and ty.name.startswith("i" if signed else "u")
    else:
        assert ty.size == 1


def test_c_type_pointer_void_and_unknown():
    assert raw.c_type("void *") == raw.ptr and raw.c_type("void*") == raw.ptr
    assert raw.c_type("void") == raw.void
    with pytest.raises(ValueError):
        raw.c_type("struct foo")


def test_struct_layout_matches_ctypes():
    inner = raw.Struct([raw.i8, "f64"])
    s = raw.Struct(["i16", inner, raw.Array("f32", 3), "u8", raw.longdouble, "ptr"])

    class CInner(ctypes.Structure):
        _fields_ = [("a", ctypes.c_int8), ("b", ctypes.c_double)]

    class C(ctypes.Structure):
        _fields_ = [("a", ctypes.c_int16), ("b", CInner), ("c", ctypes.c_float * 3),
                    ("d", ctypes.c_uint8), ("e", ctypes.c_longdouble), ("f", ctypes.c_void_p)]

    assert s.offsets == [getattr(C, f).offset for f, _ in C._fields_]
    assert (s.size, s.alignment) == (ctypes.sizeof(C), ctypes.alignment(C))
    assert s.fields[1] is inner and s.fields[0] == raw.i16
    assert isinstance(s, raw.Type) and isinstance(s, raw.Struct)
    assert "struct {i16, struct {i8, f64}, f32[3], u8, longdouble, ptr}" in repr(s)
    assert raw.Struct(["i32", "i8"]) == raw.Struct([raw.i32, raw.i8])
    assert raw.Struct(["i32", "i8"]) != raw.Struct(["i8", "i32"])


@pytest.mark.parametrize("fields, exc, fragment", [
    ([], ValueError, "at least one field"),
    (["i32", "void"], ValueError, "void"),
    ("i32", TypeError, "list or tuple"),
    (["i32", 7], TypeError, "fields[1]"),
    (["i32", "nope"], ValueError, "fields[1]"),
])
def test_bad_struct_fields(fields, exc, fragment):
    with pytest.raises(exc) as e:
        raw.Struct(fields)
    message_has(e, fragment)


def test_array_type():
    a = raw.Array("i16", 5)
    assert (a.size, a.alignment, a.length, a.item) == (10, 2, 5, raw.i16)
    assert a.name == "i16[5]" and isinstance(a, raw.Type)
    assert raw.Array(raw.Struct(["i8", "i32"]), 2).size == 16
    with pytest.raises(ValueError):
        raw.Array("i8", -1)
    with pytest.raises(TypeError):
        raw.Array("i8", "3")
    with pytest.raises(ValueError):
        raw.Array("void", 3)
    # Past isize::MAX bytes, as sizes too large are in cffi.
    with pytest.raises(OverflowError):
        raw.Array("i64", sys.maxsize)


# --- libraries --------------------------------------------------------------


def test_symbol_address_is_the_loaders(libc):
    labs = libc.symbol("labs")
    expected = ctypes.cast(ctypes.CDLL(None).labs, ctypes.c_void_p).value
    assert labs.address == expected
    assert (labs.name, labs.library) == ("labs", "<this process>")
    assert "labs" in repr(labs) and hex(expected) in repr(labs)
    assert libc.name == "<this process>" and not libc.closed


def test_open_by_path_str_bytes_and_pathlike(helper_path):
    for name in (str(helper_path), os.fsencode(helper_path), helper_path):
        lib = raw.Library(name, raw.RTLD_NOW | raw.RTLD_LOCAL)
        assert lib.symbol("helper_bump").address
        assert str(helper_path) in repr(lib)


def test_rtld_flags_are_the_platforms():
    assert (raw.RTLD_NOW, raw.RTLD_LAZY, raw.RTLD_GLOBAL, raw.RTLD_LOCAL, raw.RTLD_NODELETE) == (
        os.RTLD_NOW, os.RTLD_LAZY, os.RTLD_GLOBAL, os.RTLD_LOCAL, os.RTLD_NODELETE)


def test_flags_without_a_binding_mode_are_refused_by_the_loader():
    with pytest.raises(OSError) as e:
        raw.Library("libm.so.6", raw.RTLD_GLOBAL)
    message_has(e, "invalid mode")


def test_missing_library_is_os_error_with_the_loaders_message(tmp_path):
    path = str(tmp_path / "libmissing.so")
    with pytest.raises(OSError) as e:
        raw.Library(path)
    message_has(e, path, "cannot open shared object file")


def test_a_file_that_is_not_a_library_is_os_error(tmp_path):
    path = tmp_path / "libfake.so"
    path.write_text("not ELF")
    with pytest.raises(OSError) as e:
        raw.Library(str(path))
    message_has(e, str(path))


def test_missing_symbol_is_attribute_error_naming_library_and_symbol(helper_path):
    lib = raw.Library(str(helper_path))
    with pytest.raises(AttributeError) as e:
        lib.symbol("helper_nothing_here")
    message_has(e, str(helper_path), "'helper_nothing_here'", "undefined symbol")


@pytest.mark.parametrize("name, exc", [(42, TypeError), (["libc.so.6"], TypeError),
                                       ("lib\0c.so", ValueError), (b"lib\0c.so", ValueError)])
def test_bad_library_names(name, exc):
    with pytest.raises(exc):
        raw.Library(name)


def test_bad_symbol_names(libc):
    with pytest.raises(ValueError):
        libc.symbol("la\0bs")
    with pytest.raises(TypeError):
        libc.symbol(3)
    with pytest.raises(AttributeError):
        libc.symbol("")


def test_closed_library_refuses_lookups_clearly(helper_path):
    lib = raw.Library(str(helper_path))
    lib.close()
    lib.close()
    assert lib.closed and "closed" in repr(lib)
    with pytest.raises(ValueError) as e:
        lib.symbol("helper_bump")
    message_has(e, "is closed")
    with raw.Library(str(helper_path)) as lib2:
        sym = lib2.symbol("helper_bump")
    assert lib2.closed and sym.address


def mapped(path):
    with open("/proc/self/maps") as f:
        return str(path) in f.read()


def test_symbols_and_functions_keep_a_closed_library_loaded(helper_path, tmp_path):
    # A private copy: no other handle in this process keeps it loaded.
    path = tmp_path / "libraw_lifetime.so"
    shutil.copy(helper_path, path)
    lib = raw.Library(str(path))
    sym = lib.symbol("helper_counter")
    bump = func(lib, "helper_bump", ["i32"], "i32")
    lib.close()
    del lib
    gc.collect()
    assert mapped(path)
    start = bump(0)
    assert bump(5) == start + 5 and raw.peek("i32", sym) == start + 5
    del bump
    gc.collect()
    assert mapped(path)  # the symbol still holds it
    del sym
    gc.collect()
    assert not mapped(path)  # the last holder gone: unloaded


# --- functions --------------------------------------------------------------


def test_labs_with_names_objects_and_c_types(libc):
    long = raw.c_type("long")
    for argtypes, restype in [(["i64"], "i64"), ([raw.i64], raw.i64), ([long], long)]:
        labs = func(libc, "labs", argtypes, restype)
        for v in [0, 1, -1, 12345, -(2**62), random.randrange(-(2**63) + 1, 2**63)]:
            assert labs(v) == abs(v)


@pytest.mark.parametrize("name", INT_TYPES)
def test_every_integer_type_round_trips_its_limits(helper_lib, name):
    ident = func(helper_lib, "helper_id_" + HELPER_ID[name], [name], name)
    lo, hi = int_range(name)
    for v in (lo, hi, 0, 1, lo + 1, hi - 1, random.randint(lo, hi)):
        assert ident(v) == v
    for bad in (lo - 1, hi + 1, 2**64, -(2**64), 2**100):
        with pytest.raises(OverflowError) as e:
            ident(bad)
        message_has(e, "argument 1", name, str(lo), str(hi))


def test_index_objects_and_bools_are_integers(helper_lib):
    class Index:
        def __index__(self):
            return 77

    ident = func(helper_lib, "helper_id_int", ["i32"], "i32")
    assert ident(Index()) == 77 and ident(True) == 1


@pytest.mark.parametrize("bad", [1.0, "3", None, b"3", [3], 3j])
def test_non_integers_are_type_errors_naming_the_position(helper_lib, bad):
    widen = func(helper_lib, "helper_widen_int", ["i32"], "i64")
    with pytest.raises(TypeError) as e:
        widen(bad)
    message_has(e, "helper_widen_int() argument 1", "expected an int for i32")


def test_floats_and_their_range(helper_lib):
    id_f = func(helper_lib, "helper_id_float", ["f32"], "f32")
    id_d = func(helper_lib, "helper_id_double", ["f64"], "f64")
    assert id_d(0.1) == 0.1 and id_d(3) == 3.0 and id_d(float("inf")) == float("inf")
    assert id_f(0.1) == struct.unpack("f", struct.pack("f", 0.1))[0]
    assert id_f(float("-inf")) == float("-inf")
    with pytest.raises(OverflowError) as e:
        id_f(1e39)
    message_has(e, "argument 1", "f32")
    with pytest.raises(OverflowError):
        id_d(10**400)
    with pytest.raises(TypeError) as e:
        id_d("1.0")
    message_has(e, "argument 1", "expected a float for f64")


def test_many_arguments_on_the_stack(helper_lib):
    many = func(helper_lib, "helper_many",
                ["i8", "u16", "i32", "i64", "u8", "i16", "u32", "i64"]
                + ["f32", "f64"] * 5, "f64")
    args = [-3, 60000, -70000, 2**40, 200, -300, 4000000000, -(2**33)] + [
        0.5 * i for i in range(10)]
    assert many(*args) == sum(v * (i + 1) for i, v in enumerate(args))


def test_argument_count_is_checked(libc):
    labs = func(libc, "labs", ["i64"], "i64")
    with pytest.raises(TypeError) as e:
        labs()
    message_has(e, "labs() takes 1 argument (0 given)")
    with pytest.raises(TypeError):
        labs(1, 2)


def test_pointer_arguments(libc, helper_lib):
    strlen = func(libc, "strlen", ["ptr"], "u64")
    assert strlen(b"hello, world") == 12 and strlen(b"") == 0
    assert strlen(raw.Memory.from_bytes(b"abc\0def")) == 3
    ident = func(helper_lib, "helper_id_ptr", ["ptr"], "ptr")
    mem = raw.Memory(8)
    sym = helper_lib.symbol("helper_counter")
    cb = raw.Callback(lambda: None, [], None)
    assert ident(None) == 0 and ident(0xDEADBEEF) == 0xDEADBEEF
    assert ident(2**64 - 1) == 2**64 - 1
    assert ident(mem) == mem.address and ident(sym) == sym.address
    assert ident(cb) == cb.address and ident(strlen) == strlen.address
    for bad, exc in [(-1, OverflowError), (2**64, OverflowError), (1.0, TypeError),
                     (bytearray(b"x"), TypeError), ("text", TypeError)]:
        with pytest.raises(exc) as e:
            ident(bad)
        message_has(e, "helper_id_ptr() argument 1")


def test_freed_memory_as_an_argument_is_refused(libc):
    strlen = func(libc, "strlen", ["ptr"], "u64")
    mem = raw.Memory.from_bytes(b"abc\0")
    mem.free()
    with pytest.raises(ValueError) as e:
        strlen(mem)
    message_has(e, "argument 1", "freed")


def test_struct_returned_by_value(libc):
    div_t = raw.Struct(["i32", "i32"])
    div = func(libc, "div", ["i32", "i32"], div_t)
    for _ in range(20):
        a, b = random.randrange(0, 10**9), random.randrange(1, 10**4)
        out = div(a, b)
        assert isinstance(out, bytes) and len(out) == div_t.size
        assert struct.unpack("ii", out) == divmod(a, b)


def test_struct_with_padding_in_and_out(helper_lib):
    pair = raw.Struct(["i16", "i64"])
    swap = func(helper_lib, "helper_swap_pair", [pair], pair)
    arg = raw.alloc(pair)
    arg.write("i16", pair.offsets[0], -7)
    arg.write("i64", pair.offsets[1], 2**40 + 3)
    for value in (arg, bytes(arg), bytearray(bytes(arg))):
        out = raw.Memory.from_bytes(swap(value))
        assert out.read("i16", pair.offsets[0]) == 7
        assert out.read("i64", pair.offsets[1]) == 2 * (2**40 + 3)
    with pytest.raises(ValueError) as e:
        swap(bytes(pair.size - 1))
    message_has(e, "argument 1", f"exactly {pair.size} bytes")
    with pytest.raises(ValueError):
        swap(raw.Memory(pair.size - 1))
    with pytest.raises(TypeError) as e:
        swap(5)
    message_has(e, "argument 1", "bytes")


def test_big_struct_with_arrays_through_memory(helper_lib):
    big = raw.Struct([raw.Array("f64", 3), "i32", raw.Array("u8", 5)])
    scale = func(helper_lib, "helper_big_scale", [big, "f64"], big)
    arg = raw.alloc(big)
    for i, d in enumerate([1.5, -2.0, 4.25]):
        arg.write("f64", big.offsets[0] + 8 * i, d)
    arg.write("i32", big.offsets[1], 99)
    arg.write_bytes(big.offsets[2], b"abcd\0")
    out = raw.Memory.from_bytes(scale(arg, 2.0))
    assert [out.read("f64", 8 * i) for i in range(3)] == [3.0, -4.0, 8.5]
    assert out.read("i32", big.offsets[1]) == -99
    assert out.read_bytes(big.offsets[2], 5) == b"Sbcd\0"


@pytest.mark.parametrize("argtypes, restype, fragment", [
    (["void"], "i32", "argtypes[0] is void"),
    ([raw.Array("i8", 4)], "i32", "argtypes[0] is an array"),
    (["i32"], raw.Array("i8", 4), "restype is an array"),
    (["i32", raw.Struct([raw.Array("i8", 0)])], "i32", "argtypes[1] is or contains"),
])
def test_signatures_libffi_cannot_pass_are_type_errors(argtypes, restype, fragment):
    with pytest.raises(TypeError) as e:
        raw.Function(0x1000, argtypes, restype)
    message_has(e, fragment)


def test_function_construction_errors(libc):
    labs = libc.symbol("labs")
    with pytest.raises(ValueError) as e:
        raw.Function(0, [], None)
    message_has(e, "NULL")
    for bad in ["labs", raw.Memory(8), 1.5, None]:
        with pytest.raises(TypeError):
            raw.Function(bad, ["i64"], "i64")
    with pytest.raises(TypeError) as e:
        raw.Function(labs, "i64", "i64")
    message_has(e, "argtypes must be a list or tuple")
    with pytest.raises(TypeError) as e:
        raw.Function(labs, ["i64", 3], "i64")
    message_has(e, "argtypes[1]")
    with pytest.raises(ValueError) as e:
        raw.Function(labs, ["i64"], "long")
    message_has(e, "restype")
    with pytest.raises(TypeError):
        raw.Function(labs, ["i64"], "i64", bogus=1)


def test_function_properties(libc):
    sym = libc.symbol("labs")
    labs = raw.Function(sym, ("i64",), "i64")
    assert labs.address == sym.address and labs.name == "labs"
    assert labs.argtypes == (raw.i64,) and labs.restype == raw.i64
    assert (labs.variadic, labs.errno, labs.release_gil) == (None, False, True)
    assert repr(labs).startswith("<raw.Function i64 labs(i64) at 0x")
    bare = raw.Function(sym.address, ["i64"], "i64", name="my_labs", release_gil=False)
    assert bare(-3) == 3 and bare.name == "my_labs" and not bare.release_gil
    assert raw.Function(sym.address, ["i64"], "i64").name == f"function at {sym.address:#x}"
    again = raw.Function(labs, ["i64"], "i64")
    assert again(-9) == 9 and again.name == "labs"
    void = raw.Function(libc.symbol("srand"), ["u32"], None)
    assert void(1) is None and void.restype == raw.void


def test_variadic_snprintf_with_promotions(libc):
    buf = raw.Memory(64)
    snprintf = func(libc, "snprintf", ["ptr", "u64", "ptr"], "i32",
                    variadic=["i32", "f64", "ptr", "f32", "i8", "u16"])
    assert snprintf.variadic == (raw.i32, raw.f64, raw.ptr, raw.f32, raw.i8, raw.u16)
    assert "..." in repr(snprintf)
    x, y = random.randrange(-10**6, 10**6), random.random() * 100
    n = snprintf(buf, 64, b"%d %.3f %s %.1f %d %d", x, y, b"str", 2.5, -5, 65535)
    expected = b"%d %.3f %s %.1f %d %d" % (x, y, b"str", 2.5, -5, 65535)
    assert (n, raw.peek_string(buf)) == (len(expected), expected)
    bare = func(libc, "snprintf", ["ptr", "u64", "ptr"], "i32", variadic=[])
    assert bare(buf, 64, b"plain") == 5 and raw.peek_string(buf) == b"plain"
    with pytest.raises(TypeError) as e:
        snprintf(buf, 64, b"%d", 1.5, 0.0, b"", 0.0, 0, 0)
    message_has(e, "snprintf() argument 4")


def test_variadic_errors(libc):
    printf = libc.symbol("printf")
    with pytest.raises(TypeError) as e:
        raw.Function(printf, [], "i32", variadic=["i32"])
    message_has(e, "at least one fixed argument")
    with pytest.raises(TypeError):
        raw.Function(printf, ["ptr"], "i32", variadic="i32")
    with pytest.raises(TypeError) as e:
        raw.Function(printf, ["ptr"], "i32", variadic=["i32", "void"])
    message_has(e, "variadic[1] is void")


def test_errno_is_captured_when_asked(libc):
    strtol = func(libc, "strtol", ["ptr", "ptr", "i32"], "i64", errno=True)
    raw.set_errno(0)
    assert strtol(b"9" * 30, None, 10) == 2**63 - 1
    assert raw.get_errno() == errno.ERANGE
    # errno=True also sets errno from get_errno() before the call.
    location = func(libc, "__errno_location", [], "ptr", errno=True)
    raw.set_errno(1234)
    assert raw.peek("i32", location()) == 1234
    # Without errno=True the saved value is left alone.
    plain = func(libc, "strtol", ["ptr", "ptr", "i32"], "i64")
    raw.set_errno(77)
    plain(b"9" * 30, None, 10)
    assert raw.get_errno() == 77


def test_errno_is_shared_with_ffi_errno_and_per_thread():
    from ffi_py import FFI

    ffi = FFI()
    raw.set_errno(42)
    assert ffi.errno == 42
    seen = []
    t = threading.Thread(target=lambda: seen.append(raw.get_errno()))
    t.start()
    t.join()
    assert seen == [0] and raw.get_errno() == 42


def test_the_gil_is_released_during_calls_unless_asked_not_to(libc):
    usleep = func(libc, "usleep", ["u32"], "i32")
    stall = longest_stall_during(lambda: usleep(400_000))
    assert stall < 0.15, f"another thread stalled {stall:.3f} s"
    holding = func(libc, "usleep", ["u32"], "i32", release_gil=False)
    stall = longest_stall_during(lambda: holding(400_000))
    assert stall >= 0.35, f"another thread ran during the call (stall {stall:.3f} s)"


def test_longdouble_through_libm():
    libm = raw.Library("libm.so.6")
    fabsl = func(libm, "fabsl", ["longdouble"], "longdouble")
    ldexpl = func(libm, "ldexpl", ["longdouble", "i32"], "longdouble")
    assert fabsl(-2.5) == 2.5 and ldexpl(1.5, 3) == 12.0
    x = random.random()
    assert ldexpl(x, 10) == x * 1024


# --- memory -----------------------------------------------------------------


@pytest.mark.parametrize("name", INT_TYPES)
def test_memory_round_trips_integer_limits(name):
    mem = raw.alloc(name, 3)
    assert len(mem) == mem.size == 3 * raw.Type(name).size
    lo, hi = int_range(name)
    for i, v in enumerate((lo, hi, random.randint(lo, hi))):
        mem.write(name, i * raw.Type(name).size, v)
    size = raw.Type(name).size
    assert [mem.read(name, i * size) for i in range(3)] == [
        CTYPES_OF[name].from_address(mem.address + i * size).value for i in range(3)]
    with pytest.raises(OverflowError):
        mem.write(name, 0, hi + 1)
    assert mem.read(name, 0) == lo  # a failed write changes nothing


def test_memory_floats_pointers_and_unaligned_access():
    mem = raw.Memory(40)
    mem.write("f64", 1, 0.1)  # unaligned on purpose
    mem.write("f32", 9, 1.5)
    mem.write("longdouble", 16, -3.25)
    mem.write("ptr", 13, None)
    assert mem.read("f64", 1) == 0.1 and mem.read("f32", 9) == 1.5
    assert mem.read("longdouble", 16) == -3.25
    assert ctypes.c_longdouble.from_address(mem.address + 16).value == -3.25
    assert mem.read("ptr", 13) == 0
    other = raw.Memory(4)
    mem.write("ptr", 0, other)
    assert mem.read("ptr") == other.address


def test_memory_is_zeroed_and_byte_access_matches_ctypes():
    mem = raw.Memory(32)
    assert bytes(mem) == bytes(32) and mem.read_bytes() == bytes(32)
    mem.write_bytes(4, b"hello")
    mem.write_bytes(10, bytearray(b"!"))
    assert ctypes.string_at(mem.address, 32) == bytes(mem)
    assert mem.read_bytes(4, 5) == b"hello" and mem.read_bytes(10) == b"!" + bytes(21)
    copy = raw.Memory.from_bytes(bytes(mem))
    assert bytes(copy) == bytes(mem) and copy.address != mem.address
    assert raw.Memory(0).read_bytes() == b"" and len(raw.Memory(0)) == 0


def test_struct_values_in_memory():
    pair = raw.Struct(["i16", "i64"])
    mem = raw.alloc(pair, 2)
    value = struct.pack("=h6xq", -2, 5)
    mem.write(pair, pair.size, value)
    assert mem.read(pair, pair.size) == value and mem.read(pair) == bytes(pair.size)
    with pytest.raises(ValueError):
        mem.write(pair, 0, value[:-1])


@pytest.mark.parametrize("op", [
    lambda m: m.read("i32", 13), lambda m: m.read("i32", -1),
    lambda m: m.read("i8", 16), lambda m: m.write("i64", 9, 0),
    lambda m: m.write("i8", -16, 0), lambda m: m.read_bytes(10, 7),
    lambda m: m.read_bytes(17), lambda m: m.write_bytes(15, b"ab"),
    lambda m: m.read("u8", 2**62), lambda m: m.read(raw.Array("i8", 17)),
])
def test_memory_bounds_are_checked(op):
    mem = raw.Memory(16)
    mem.write_bytes(0, bytes(range(16)))
    with pytest.raises(IndexError) as e:
        op(mem)
    message_has(e, "outside this raw.Memory's 16 bytes")
    assert bytes(mem) == bytes(range(16))


def test_bad_memory_arguments():
    for call, exc in [
        (lambda: raw.Memory(-1), ValueError),
        (lambda: raw.Memory("8"), TypeError),
        (lambda: raw.Memory(8, align=3), ValueError),
        (lambda: raw.Memory(8, align=0), ValueError),
        (lambda: raw.Memory(2**62), MemoryError),
        (lambda: raw.alloc("i32", -1), ValueError),
        (lambda: raw.alloc("i64", 2**62), OverflowError),
        (lambda: raw.alloc("void"), TypeError),
        (lambda: raw.Memory(8).read("void"), TypeError),
        (lambda: raw.Memory(8).write("i32", 0, "x"), TypeError),
        (lambda: raw.Memory(8).write("ptr", 0, b"bytes"), TypeError),
        (lambda: raw.Memory(8).write_bytes(0, "text"), TypeError),
        (lambda: raw.Memory(8).read_bytes(0, -1), ValueError),
        (lambda: raw.Memory.from_bytes([1, 2]), TypeError),
    ]:
        with pytest.raises(exc):
            call()


def test_alignment_is_honoured():
    for align in (1, 16, 64, 4096):
        assert raw.Memory(3, align=align).address % align == 0
    assert raw.alloc(raw.longdouble).address % 16 == 0


def test_free_and_context_manager():
    mem = raw.Memory(8)
    assert not mem.freed and "8 bytes at 0x" in repr(mem)
    mem.free()
    mem.free()
    assert mem.freed and "freed" in repr(mem)
    for op in (lambda: mem.address, lambda: mem.read("i8"), lambda: mem.write("i8", 0, 1),
               lambda: bytes(mem), lambda: raw.peek("i8", mem)):
        with pytest.raises(ValueError) as e:
            op()
        message_has(e, "freed")
    with raw.Memory(8) as m:
        m.write("i64", 0, 5)
    assert m.freed


def test_memory_freed_during_a_call_lives_until_the_call_returns():
    # A block big enough to be mmapped: had free() released it while qsort
    # was still working on it, the next access would fault. In a child, as
    # the failure mode is a crash.
    code = textwrap.dedent("""
        from ffi_py import raw
        libc = raw.Library(None)
        qsort = raw.Function(libc.symbol("qsort"), ["ptr", "u64", "u64", "ptr"], None)
        n = 1000
        mem = raw.Memory(8 << 20)
        for i in range(n):
            mem.write("i32", 4 * i, (i * 7919) % n)
        def compare(a, b):
            mem.free()
            return raw.peek("i32", a) - raw.peek("i32", b)
        cb = raw.Callback(compare, ["ptr", "ptr"], "i32")
        qsort(mem, n, 4, cb)
        print("freed" if mem.freed else "alive")
    """)
    child = run_python(code)
    assert (child.returncode, child.stdout.strip()) == (0, "freed"), child.stderr


# --- peek and poke ----------------------------------------------------------


def test_peek_and_poke_at_addresses(libc, helper_lib):
    mem = raw.Memory(16)
    raw.poke("u32", mem.address + 4, 0xCAFEBABE)
    assert mem.read("u32", 4) == 0xCAFEBABE
    assert raw.peek("u32", mem.address + 4) == 0xCAFEBABE
    assert raw.peek("u32", mem) == 0
    raw.poke_bytes(mem.address, b"xyz\0")
    assert raw.peek_bytes(mem, 3) == b"xyz" and raw.peek_string(mem) == b"xyz"
    assert raw.peek_string(mem, maxlen=2) == b"xy" and raw.peek_string(mem, 0) == b""
    counter = helper_lib.symbol("helper_counter")
    bump = func(helper_lib, "helper_bump", ["i32"], "i32")
    assert raw.peek("i32", counter) == bump(0)
    raw.poke("i32", counter, 1000)
    assert bump(1) == 1001


def test_peek_string_reads_what_c_returned(libc, monkeypatch):
    value = "raw-%d" % random.randrange(10**6)
    monkeypatch.setenv("FFI_PY_RAW_TEST", value)
    getenv = func(libc, "getenv", ["ptr"], "ptr")
    assert raw.peek_string(getenv(b"FFI_PY_RAW_TEST")) == value.encode()
    assert getenv(b"FFI_PY_RAW_TEST_UNSET") == 0


def test_peek_and_poke_refuse_what_they_can():
    mem = raw.Memory(8)
    for call, exc in [
        (lambda: raw.peek("i32", 0), ValueError),
        (lambda: raw.peek("i32", None), ValueError),
        (lambda: raw.poke("i32", 0, 1), ValueError),
        (lambda: raw.peek_bytes(0, 4), ValueError),
        (lambda: raw.peek_string(0), ValueError),
        (lambda: raw.poke_bytes(0, b"x"), ValueError),
        (lambda: raw.peek_bytes(mem, -1), ValueError),
        (lambda: raw.peek_string(mem, -1), ValueError),
        (lambda: raw.peek("void", mem), TypeError),
        (lambda: raw.peek("i32", -8), OverflowError),
        (lambda: raw.peek("i32", "0x10"), TypeError),
        (lambda: raw.poke("i8", mem, 300), OverflowError),
        (lambda: raw.poke_bytes(mem, "str"), TypeError),
    ]:
        with pytest.raises(exc):
            call()
    assert bytes(mem) == bytes(8)


# --- callbacks --------------------------------------------------------------


def test_qsort_with_a_raw_callback(libc):
    qsort = func(libc, "qsort", ["ptr", "u64", "u64", "ptr"], None)
    values = [random.randrange(-1000, 1000) for _ in range(200)]
    mem = raw.alloc("i32", len(values))
    for i, v in enumerate(values):
        mem.write("i32", 4 * i, v)
    calls = []

    def compare(a, b):
        calls.append(1)
        x, y = raw.peek("i32", a), raw.peek("i32", b)
        return (x > y) - (x < y)

    cmp = raw.Callback(compare, ["ptr", "ptr"], "i32")
    qsort(mem, len(values), 4, cmp)
    assert [mem.read("i32", 4 * i) for i in range(len(values))] == sorted(values)
    assert calls


@pytest.mark.parametrize("name", INT_TYPES + ["f32", "f64", "ptr", "longdouble"])
def test_callback_arguments_and_results_of_every_type(name):
    seen = []

    def echo(x):
        seen.append(x)
        return x

    cb = raw.Callback(echo, [name], name)
    call = raw.Function(cb, [name], name)
    if name in INT_TYPES:
        values = int_range(name)
    elif name == "ptr":
        values = (0, 2**64 - 1)
    else:
        values = (1.5, -0.25)
    for v in values:
        assert call(v) == v
    assert seen == list(values)


def test_callback_with_many_mixed_arguments(helper_lib):
    def fn(d, f, i):
        return d * 100 + f * 10 + i

    cb = raw.Callback(fn, ["f64", "f32", "i32"], "f64")
    apply = func(helper_lib, "helper_apply", ["ptr", "i32"], "f64")
    assert apply(cb, 5) == sum(fn(i * 0.5, float(i), i) for i in range(5))


def test_callback_structs_are_bytes():
    pair = raw.Struct(["i16", "i64"])
    got = []

    def swap(p):
        got.append(p)
        tag, value = struct.unpack("=h6xq", p)
        return struct.pack("=h6xq", value, tag)

    call = raw.Function(raw.Callback(swap, [pair], pair), [pair], pair)
    out = call(struct.pack("=h6xq", 3, 4))
    assert got == [struct.pack("=h6xq", 3, 4)] and struct.unpack("=h6xq", out) == (4, 3)


def test_callback_properties():
    fn = lambda a, b: 0  # noqa: E731
    cb = raw.Callback(fn, ("i32", raw.ptr), "i8")
    assert cb.callable is fn and cb.argtypes == (raw.i32, raw.ptr) and cb.restype == raw.i8
    assert cb.address and "i8(i32, ptr)" in repr(cb) and "lambda" in repr(cb)
    assert raw.Callback(lambda: None, []).restype == raw.void


def test_exceptions_go_to_unraisablehook_and_c_gets_the_default(unraisable):
    def boom(x):
        raise KeyError(x)

    zero = raw.Function(raw.Callback(boom, ["i32"], "i32"), ["i32"], "i32")
    minus = raw.Function(raw.Callback(boom, ["i32"], "i32", default=-1), ["i32"], "i32")
    assert zero(5) == 0 and minus(6) == -1
    assert [u.exc_type for u in unraisable] == [KeyError, KeyError]
    assert [u.exc_value.args for u in unraisable] == [(5,), (6,)]
    assert unraisable[0].object is boom


@pytest.mark.parametrize("restype, result, exc", [
    ("i32", "x", TypeError), ("i32", 2**40, OverflowError), ("u8", -1, OverflowError),
    ("f64", None, TypeError), ("ptr", b"bytes", TypeError), (None, 5, TypeError),
    (raw.Struct(["i32"]), b"12345", ValueError),
])
def test_bad_callback_results_are_reported_not_crashed(unraisable, restype, result, exc):
    cb = raw.Callback(lambda: result, [], restype, default=None)
    assert raw.Function(cb, [], restype)() in (0, 0.0, None, bytes(4))
    assert [u.exc_type for u in unraisable] == [exc]


def test_bad_callback_construction():
    for call, exc, fragment in [
        (lambda: raw.Callback(5, ["i32"], "i32"), TypeError, "needs a callable"),
        (lambda: raw.Callback(print, ["void"], "i32"), TypeError, "argtypes[0] is void"),
        (lambda: raw.Callback(print, "i32", "i32"), TypeError, "list or tuple"),
        (lambda: raw.Callback(print, [], raw.Array("i8", 2)), TypeError, "restype is an array"),
        (lambda: raw.Callback(print, [], "i8", default=1000), OverflowError, "default"),
        (lambda: raw.Callback(print, [], "i8", default="x"), TypeError, "default"),
        (lambda: raw.Callback(print, [], None, default=1), TypeError, "void"),
    ]:
        with pytest.raises(exc) as e:
            call()
        message_has(e, fragment)


def test_callbacks_from_threads_c_created(helper_lib):
    main = threading.get_ident()
    threads = set()

    def double(x):
        threads.add(threading.get_ident())
        return 2 * x

    cb = raw.Callback(double, ["i32"], "i32")
    one = func(helper_lib, "call_from_c_thread", ["ptr", "i32"], "i64")
    many = func(helper_lib, "call_from_c_threads", ["ptr", "i32", "i32"], "i64")
    assert one(cb, 100) == sum(2 * i for i in range(100))
    assert many(cb, 4, 50) == sum(2 * i for i in range(200))
    assert main not in threads and len(threads) >= 2


def test_exception_in_a_c_created_thread_is_reported(helper_lib, unraisable):
    def odd_fails(x):
        if x % 2:
            raise ValueError(x)
        return x

    cb = raw.Callback(odd_fails, ["i32"], "i32", default=1000)
    one = func(helper_lib, "call_from_c_thread", ["ptr", "i32"], "i64")
    assert one(cb, 10) == sum(range(0, 10, 2)) + 5 * 1000
    assert [u.exc_value.args[0] for u in unraisable] == [1, 3, 5, 7, 9]


def test_a_function_keeps_its_callback_alive():
    call = raw.Function(raw.Callback(lambda x: x + 1, ["i32"], "i32"), ["i32"], "i32")
    gc.collect()
    assert call(41) == 42


def test_reference_cycles_through_callbacks_and_functions_are_collected():
    import weakref

    class Sorter:
        def __init__(self):
            self.cb = raw.Callback(self.compare, ["i32"], "i32")
            self.call = raw.Function(self.cb, ["i32"], "i32")

        def compare(self, x):
            return -x

    sorter = Sorter()
    assert sorter.call(3) == -3
    alive = weakref.ref(sorter)
    del sorter
    gc.collect()
    assert alive() is None


# --- leaks ------------------------------------------------------------------


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.leak
def test_raw_layer_does_not_leak(libc):
    labs = func(libc, "labs", ["i64"], "i64")
    strlen = func(libc, "strlen", ["ptr"], "u64")
    div = func(libc, "div", ["i32", "i32"], raw.Struct(["i32", "i32"]))

    def work(n):
        for i in range(n):
            labs(-i)
            strlen(b"leak check")
            div(i, 7)
        for i in range(n // 4):
            mem = raw.alloc("i64", 8)
            mem.write("i64", 8, i)
            strlen(mem)
        for i in range(n // 100):
            raw.Function(raw.Callback(lambda x: x, ["i32"], "i32"), ["i32"], "i32")(i)

    work(20_000)
    gc.collect()
    before = rss()
    work(200_000)
    gc.collect()
    growth = rss() - before
    assert growth < 4 * 1024 * 1024, f"RSS grew by {growth} bytes"


def test_the_stubs_cover_the_module():
    import ast
    from pathlib import Path

    tree = ast.parse((Path(raw.__file__).with_suffix(".pyi")).read_text())
    stubbed = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            stubbed.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            stubbed.add(node.target.id)
    assert set(raw.__all__) <= stubbed, set(raw.__all__) - stubbed
    assert all(hasattr(raw, name) for name in raw.__all__)
