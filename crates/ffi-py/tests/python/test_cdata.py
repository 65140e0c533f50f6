"""C data from Python: ffi.new and its initializers, ffi.cast, structs,
unions, arrays, pointers (arithmetic, slicing, comparison), conversions,
ffi.string, ffi.unpack, ffi.buffer, ffi.from_buffer, ffi.memmove and
ffi.addressof, and the errors of each."""

import array
import gc

import sys

import pytest

from ffi_py import CDefError
from _support import message_has


@pytest.fixture
def types(ffi):
    ffi.cdef("""
        struct pt { int x, y; };
        struct line { struct pt a, b; char name[8]; };
        union u { int i; unsigned char b[4]; float f; };
        enum col { RED, GREEN = 7 };
    """)
    return ffi


# --- ffi.new and initializers ------------------------------------------------


@pytest.mark.parametrize(
    "ctype, init, expected",
    [
        ("int *", -5, -5),
        ("unsigned char *", 255, 255),
        ("long long *", -(2**63), -(2**63)),
        ("unsigned long long *", 2**64 - 1, 2**64 - 1),
        ("double *", 0.1, 0.1),
        ("float *", 0.1, 0.10000000149011612),
        ("char *", b"z", b"z"),
        ("_Bool *", True, True),
        ("wchar_t *", "é", "é"),
        ("int8_t *", -128, -128),
        ("uint16_t *", 65535, 65535),
    ],
)
def test_new_scalar_with_initializer(ffi, ctype, init, expected):
    p = ffi.new(ctype, init)
    assert p[0] == expected
    assert type(p[0]) is type(expected)


def test_new_is_zero_filled(types):
    ffi = types
    assert ffi.new("int *")[0] == 0
    assert list(ffi.new("double[3]")) == [0.0, 0.0, 0.0]
    line = ffi.new("struct line *")
    assert (line.a.x, line.b.y, ffi.string(line.name)) == (0, 0, b"")


def test_new_open_array_from_length_or_items(ffi):
    n = ffi.new("int[]", 5)
    assert (len(n), list(n)) == (5, [0, 0, 0, 0, 0])
    items = ffi.new("int[]", [3, 1, 4])
    assert (len(items), list(items)) == (3, [3, 1, 4])
    assert ffi.typeof(items) is ffi.typeof("int[]")
    # char[] from bytes gets room for the terminating NUL.
    text = ffi.new("char[]", b"abc")
    assert len(text) == 4
    assert text[3] == b"\0"


def test_new_fixed_array_shorter_initializer_zero_fills(ffi):
    assert list(ffi.new("int[4]", [7, 8])) == [7, 8, 0, 0]
    assert ffi.new("char[3]", b"abc")[2] == b"c"


def test_new_struct_from_dict_list_and_nested(types):
    ffi = types
    p = ffi.new("struct pt *", {"y": -4})
    assert (p.x, p.y) == (0, -4)
    p = ffi.new("struct pt *", [1, 2])
    assert (p.x, p.y) == (1, 2)
    line = ffi.new("struct line *", {"a": [1, 2], "b": {"x": 3, "y": 4}, "name": b"diag"})
    assert (line.a.x, line.a.y, line.b.x, line.b.y) == (1, 2, 3, 4)
    assert ffi.string(line.name) == b"diag"


def test_new_array_of_structs(types):
    ffi = types
    pts = ffi.new("struct pt[2]", [[1, 2], {"y": 4}])
    assert [(q.x, q.y) for q in pts] == [(1, 2), (0, 4)]
    pts[1] = [9, 8]
    assert (pts[1].x, pts[1].y) == (9, 8)
    pts[0] = pts[1]  # struct assignment copies
    pts[1].x = 0
    assert (pts[0].x, pts[1].x) == (9, 0)


def test_new_two_dimensional_array(ffi):
    grid = ffi.new("int[2][3]", [[1, 2, 3], [4, 5, 6]])
    assert grid[1][2] == 6
    assert ffi.typeof(grid[1]) is ffi.typeof("int[3]")
    grid[0][1] = -2
    assert list(grid[0]) == [1, -2, 3]


def test_union_members_share_storage(types):
    ffi = types
    u = ffi.new("union u *", {"f": 1.0})
    assert u.i == 0x3F800000
    assert list(u.b) == [0, 0, 0x80, 0x3F]
    u.i = 0
    assert u.f == 0.0
    # A list initializes the first member.
    assert ffi.new("union u *", [5]).i == 5


@pytest.mark.parametrize(
    "ctype, init",
    [
        ("int *", 2**31),
        ("int *", -(2**31) - 1),
        ("unsigned char *", 256),
        ("unsigned int *", -1),
        ("short *", 40000),
        ("uint64_t *", 2**64),
        ("int8_t *", 128),
        ("_Bool *", 2),
    ],
)
def test_new_out_of_range_integer_is_overflow_error(ffi, ctype, init):
    with pytest.raises(OverflowError) as excinfo:
        ffi.new(ctype, init)
    message_has(excinfo, "does not fit", ctype[:-2])


@pytest.mark.parametrize(
    "ctype, init",
    [
        ("int *", "1"),
        ("int *", 1.5),
        ("double *", "x"),
        ("char *", 65),
        ("char *", "a"),
        ("int[2]", 3.0),
    ],
)
def test_new_wrong_initializer_type_is_type_error_naming_the_ctype(ffi, ctype, init):
    with pytest.raises(TypeError) as excinfo:
        ffi.new(ctype, init)
    message_has(excinfo, "ctype")


def test_new_too_many_array_items_is_index_error(ffi):
    with pytest.raises(IndexError):
        ffi.new("int[3]", [1, 2, 3, 4])
    with pytest.raises(IndexError):
        ffi.new("char[3]", b"abcd")


def test_new_too_many_struct_items_is_value_error(types):
    with pytest.raises(ValueError):
        types.new("struct pt *", [1, 2, 3])


def test_new_unknown_field_in_initializer_names_it(types):
    with pytest.raises(KeyError) as excinfo:
        types.new("struct pt *", {"z": 1})
    assert "z" in str(excinfo.value)


def test_new_needs_a_pointer_or_array_type(types):
    for ctype in ("int", "struct pt", "void *"):
        with pytest.raises(TypeError):
            types.new(ctype)


# --- fields, indexing, and their errors ----------------------------------------


def test_struct_fields_through_pointer_and_value(types):
    ffi = types
    p = ffi.new("struct pt *", [3, -4])
    assert (p.x, p.y, p[0].x, p[0].y) == (3, -4, 3, -4)
    p[0].x = 30
    p.y = -40
    assert (p.x, p.y) == (30, -40)


def test_unknown_field_is_attribute_error_naming_it(types):
    p = types.new("struct pt *")
    with pytest.raises(AttributeError) as excinfo:
        p.zz
    assert "zz" in str(excinfo.value)
    with pytest.raises(AttributeError) as excinfo:
        p[0].zz
    assert "zz" in str(excinfo.value)
    with pytest.raises(AttributeError) as excinfo:
        p.zz = 1
    assert "zz" in str(excinfo.value)


def test_field_assignment_checks_range_and_type(types):
    p = types.new("struct pt *")
    with pytest.raises(OverflowError):
        p.x = 2**31
    with pytest.raises(TypeError):
        p.x = "one"
    assert p.x == 0


@pytest.mark.parametrize("index", [4, 5, 100, -1, -5])
def test_array_index_out_of_bounds_is_index_error(ffi, index):
    a = ffi.new("int[4]", [1, 2, 3, 4])
    with pytest.raises(IndexError):
        a[index]
    with pytest.raises(IndexError):
        a[index] = 0
    assert list(a) == [1, 2, 3, 4]


def test_index_error_bounds_on_open_and_nested_arrays(ffi):
    with pytest.raises(IndexError):
        ffi.new("char[]", b"abc")[4]
    grid = ffi.new("int[2][3]")
    with pytest.raises(IndexError):
        grid[2]
    with pytest.raises(IndexError):
        grid[1][3]


@pytest.mark.ffi_py_only
def test_index_error_names_index_and_length(ffi):
    with pytest.raises(IndexError) as excinfo:
        ffi.new("int[4]")[4]
    message_has(excinfo, "4", "int[4]", "length 4")


def test_owning_pointer_to_one_item_can_only_be_indexed_by_0(types):
    p = types.new("int *", 5)
    with pytest.raises(IndexError):
        p[1]
    q = types.new("struct pt *")
    with pytest.raises(IndexError):
        q[1]


def test_dereferencing_null_raises(types):
    ffi = types
    null = ffi.cast("int *", 0)
    with pytest.raises(Exception) as excinfo:
        null[0]
    assert "null" in str(excinfo.value).lower()
    with pytest.raises(Exception):
        null[0] = 1
    with pytest.raises(Exception):
        ffi.new("int **")[0][0]


def test_dereferencing_null_is_runtime_error_like_cffi(ffi):
    with pytest.raises(RuntimeError):
        ffi.cast("int *", 0)[0]


@pytest.mark.ffi_py_only
def test_null_struct_member_access_raises(types):
    # cffi crashes (SIGSEGV) on this one; ffi_py raises.
    with pytest.raises(RuntimeError):
        types.cast("struct pt *", 0).x
    with pytest.raises(RuntimeError):
        types.cast("struct pt *", 0).x = 1


def test_indexing_a_primitive_is_type_error(ffi):
    for ctype in ("int", "char", "double"):
        value = ffi.cast(ctype, 1)
        with pytest.raises(TypeError):
            value[0]
        with pytest.raises(TypeError):
            value[0:1]


def test_assigning_an_item_of_a_primitive_is_type_error(ffi):
    with pytest.raises(TypeError):
        ffi.cast("int", 1)[0] = 2


def test_iteration_len_and_bool(ffi):
    a = ffi.new("short[3]", [5, 6, 7])
    assert len(a) == 3
    assert list(a) == [5, 6, 7]
    assert [x for x in a] == [5, 6, 7]
    p = ffi.cast("short *", a)
    with pytest.raises(TypeError):
        len(p)
    with pytest.raises(TypeError):
        iter(p)
    assert bool(p)
    assert not ffi.NULL
    assert not ffi.cast("int *", 0)


# --- pointer arithmetic, slicing, comparisons ----------------------------------


def test_pointer_arithmetic(ffi):
    a = ffi.new("int[5]", [10, 20, 30, 40, 50])
    p = a + 1
    assert ffi.typeof(p) is ffi.typeof("int *")
    assert (p[0], p[-1], (p + 2)[0], (p - 1)[0]) == (20, 10, 40, 10)
    assert (a + 4) - a == 4
    assert p - (a + 3) == -2
    q = ffi.cast("char *", a)
    assert (ffi.cast("char *", a + 2) - q) == 8
    assert int(ffi.cast("intptr_t", a + 3)) - int(ffi.cast("intptr_t", a)) == 12
    # Pointers to different types cannot be subtracted.
    with pytest.raises(TypeError):
        q - p


def test_slicing_arrays_and_pointers(ffi):
    a = ffi.new("int[5]", [10, 20, 30, 40, 50])
    s = a[1:3]
    assert ffi.typeof(s) is ffi.typeof("int[]")
    assert (len(s), list(s)) == (2, [20, 30])
    assert s[0] == 20
    with pytest.raises(IndexError):
        s[2]
    p = a + 2
    assert list(p[0:3]) == [30, 40, 50]
    assert list(a[0:0]) == []


def test_slice_assignment(ffi):
    a = ffi.new("int[5]", [10, 20, 30, 40, 50])
    a[0:3] = [7, 8, 9]
    assert list(a) == [7, 8, 9, 40, 50]
    a[3:5] = ffi.new("int[2]", [1, 2])
    assert list(a) == [7, 8, 9, 1, 2]
    with pytest.raises(ValueError):
        a[0:3] = [1, 2]
    b = ffi.new("char[4]")
    b[0:3] = b"xyz"
    assert ffi.string(b) == b"xyz"


def test_bad_slices_are_errors(ffi):
    a = ffi.new("int[5]")
    with pytest.raises(IndexError):
        a[1:6]
    with pytest.raises(IndexError):
        a[3:1]
    with pytest.raises(IndexError):
        (a + 1)[:2]  # a pointer has no length to default the start from
    with pytest.raises((IndexError, ValueError)):
        a[0:4:2]


def test_pointer_comparisons(ffi):
    a = ffi.new("int[4]")
    p = a + 1
    assert p == a + 1
    assert p != a
    assert a < p < a + 2
    assert a <= a and p >= a and p > a
    # Equality is by address, across pointer types.
    assert ffi.cast("char *", p) == p
    assert ffi.cast("void *", a) == a
    assert hash(p) == hash(a + 1)
    assert p != 0  # a pointer never equals a Python int
    with pytest.raises(TypeError):
        p < 3


def test_null_comparisons(ffi):
    assert ffi.NULL == ffi.cast("int *", 0)
    assert ffi.new("int *") != ffi.NULL
    assert ffi.new("int **")[0] == ffi.NULL
    assert repr(ffi.NULL) == "<cdata 'void *' NULL>"


def test_primitive_cdata_compare_and_convert(ffi):
    five = ffi.cast("int", 5)
    assert five == 5
    assert five == ffi.cast("int", 5)
    assert ffi.cast("int", 5) < ffi.cast("int", 6)
    assert int(five) == 5
    assert float(ffi.cast("double", 1.25)) == 1.25
    assert int(ffi.cast("double", 1.75)) == 1
    assert repr(five) == "<cdata 'int' 5>"
    assert repr(ffi.cast("double", 0.5)) == "<cdata 'double' 0.5>"


# --- ffi.cast ----------------------------------------------------------------


@pytest.mark.parametrize(
    "ctype, value, expected",
    [
        ("int", 2**40 + 7, 7),  # truncation like C, no OverflowError
        ("unsigned char", -1, 255),
        ("signed char", 200, -56),
        ("int", 3.9, 3),
        ("_Bool", 2, True),
        ("double", 1, 1.0),
        ("unsigned long long", -1, 2**64 - 1),
    ],
)
def test_cast_converts_like_c(ffi, ctype, value, expected):
    result = ffi.cast(ctype, value)
    if ctype in ("double", "_Bool"):
        assert (float if ctype == "double" else bool)(result) == expected
    else:
        assert int(result) == expected


def test_cast_between_pointers_and_integers(ffi):
    a = ffi.new("int[2]", [1, 2])
    address = int(ffi.cast("uintptr_t", a))
    back = ffi.cast("int *", address)
    assert back == a
    assert back[1] == 2
    assert ffi.string(ffi.cast("char", 65)) == b"A"


def test_char_cdata_equals_its_bytes(ffi):
    assert ffi.cast("char", 65) == b"A"


def test_cast_errors(types):
    with pytest.raises(TypeError):
        types.cast("struct pt", 0)
    with pytest.raises(CDefError) as excinfo:
        types.cast("no_such_type_t", 0)
    assert "no_such_type_t" in str(excinfo.value)


def test_cast_takes_its_arguments_by_position_or_by_name(ffi):
    # cffi's names: cast(cdecl, source).
    assert int(ffi.cast(cdecl="int", source=7)) == 7
    assert int(ffi.cast("int", source=8)) == 8
    bad_calls = [
        lambda: ffi.cast("int"),
        lambda: ffi.cast("int", 1, 2),
        lambda: ffi.cast("int", value=1),
        lambda: ffi.cast("int", 1, cdecl="int"),
        lambda: ffi.cast(source=1),
    ]
    for call in bad_calls:
        with pytest.raises(TypeError):
            call()


# --- strings ----------------------------------------------------------------


def test_string_of_char_arrays_and_pointers(ffi):
    assert ffi.string(ffi.new("char[]", b"ab\0cd")) == b"ab"
    assert ffi.string(ffi.new("char[]", b"abcdef"), 3) == b"abc"
    assert ffi.string(ffi.cast("char *", ffi.new("char[]", b"ptr"))) == b"ptr"
    # A full array without a NUL stops at its end.
    assert ffi.string(ffi.new("char[3]", b"xyz")) == b"xyz"


def test_string_of_wide_characters(ffi):
    assert ffi.string(ffi.new("wchar_t[]", "wide ✓")) == "wide ✓"
    assert ffi.string(ffi.new("char16_t[]", "utf16 ✓")) == "utf16 ✓"
    assert ffi.string(ffi.new("char32_t[]", "utf32 😀")) == "utf32 😀"


def test_string_of_enum_and_char(types):
    assert types.string(types.cast("enum col", 7)) == "GREEN"
    assert types.string(types.cast("enum col", 3)) == "3"
    assert types.string(types.cast("char", 66)) == b"B"


def test_string_errors(ffi):
    with pytest.raises(TypeError):
        ffi.string(ffi.new("int[]", [1, 2]))
    with pytest.raises(TypeError):
        ffi.string(ffi.cast("int", 42))
    with pytest.raises(Exception):
        ffi.string(ffi.cast("char *", 0))


# --- unpack ------------------------------------------------------------------


def test_unpack(ffi):
    assert ffi.unpack(ffi.new("char[]", b"ab\0cd"), 5) == b"ab\0cd"
    assert ffi.unpack(ffi.new("wchar_t[]", "abc"), 3) == "abc"
    assert ffi.unpack(ffi.new("double[]", [1.5, 2.5]), 2) == [1.5, 2.5]
    assert ffi.unpack(ffi.new("int *", 9), 1) == [9]
    assert ffi.unpack(ffi.new("int[3]", [4, 5, 6]) + 1, 2) == [5, 6]
    assert ffi.unpack(ffi.new("char *[]", [ffi.NULL]), 1) == [ffi.NULL]
    with pytest.raises(ValueError):
        ffi.unpack(ffi.new("int[1]"), -1)


@pytest.mark.ffi_py_only
def test_unpack_past_a_known_length_is_index_error(ffi):
    # cffi reads past the end of the array here.
    with pytest.raises(IndexError):
        ffi.unpack(ffi.new("int[]", [1, 2, 3]), 4)


# --- buffer, from_buffer, memmove ---------------------------------------------


def test_buffer_reads_and_writes_the_memory(ffi):
    a = ffi.new("int[4]", [1, 2, 3, 4])
    buf = ffi.buffer(a)
    assert len(buf) == 16
    assert buf[0:4] == b"\x01\x00\x00\x00"
    assert buf[:] == bytes(buf)
    assert bytes(buf)[12:] == b"\x04\x00\x00\x00"
    buf[0:4] = b"\x05\x00\x00\x00"
    buf[4] = b"\x09"
    assert list(a) == [5, 9, 3, 4]
    assert buf[4] == b"\x09"
    assert ffi.buffer(a, 8)[:] == b"\x05\x00\x00\x00\x09\x00\x00\x00"
    assert ffi.buffer(ffi.new("char[]", b"xyz"))[:] == b"xyz\0"
    assert ffi.buffer(ffi.new("int *", 7))[:] == b"\x07\x00\x00\x00"


def test_buffer_needs_a_pointer_or_array(ffi):
    with pytest.raises(TypeError):
        ffi.buffer(ffi.cast("int", 7))


@pytest.mark.xfail(
    sys.version_info < (3, 12),
    reason="before CPython 3.12 (PEP 688) an extension built for the 3.10 "
    "stable ABI cannot export the buffer protocol: memoryview(ffi.buffer(p)) "
    "raises TypeError there",
    strict=True,
)
def test_buffer_supports_the_buffer_protocol(ffi):
    a = ffi.new("int[2]", [1, 2])
    buf = ffi.buffer(a)
    assert memoryview(buf).tobytes() == b"\x01\x00\x00\x00\x02\x00\x00\x00"
    assert bytearray(buf) == bytearray(b"\x01\x00\x00\x00\x02\x00\x00\x00")
    memoryview(buf)[0:4] = b"\x07\x00\x00\x00"
    assert a[0] == 7
    # A view keeps the memory alive after the buffer and the cdata are gone.
    view = memoryview(buf)
    del buf, a
    gc.collect()
    assert view[4:8].tobytes() == b"\x02\x00\x00\x00"


def test_from_buffer_shares_memory_with_the_python_object(ffi):
    data = bytearray(b"hello")
    p = ffi.from_buffer(data)
    assert ffi.typeof(p) is ffi.typeof("char[]")
    assert (len(p), p[0], p[4]) == (5, b"h", b"o")
    p[0] = b"J"
    assert data == bytearray(b"Jello")
    data[1] = ord("E")
    assert p[1] == b"E"


def test_from_buffer_with_a_type(ffi):
    numbers = array.array("i", [10, 20, 30])
    p = ffi.from_buffer("int[]", numbers)
    assert (ffi.typeof(p), len(p), list(p)) == (ffi.typeof("int[]"), 3, [10, 20, 30])
    p[1] = -1
    assert numbers.tolist() == [10, -1, 30]
    assert ffi.from_buffer("int *", numbers)[2] == 30
    assert len(ffi.from_buffer("long[]", bytearray(20))) == 2  # whole items only
    with pytest.raises(ValueError):
        ffi.from_buffer("int[5]", numbers)


def test_from_buffer_of_read_only_and_non_buffers(ffi):
    assert ffi.from_buffer(b"abc")[1] == b"b"
    with pytest.raises((TypeError, BufferError)):
        ffi.from_buffer(b"abc", require_writable=True)
    with pytest.raises(TypeError):
        ffi.from_buffer("text")


def test_memmove_between_cdata_and_python_buffers(ffi):
    dst = ffi.new("char[8]")
    ffi.memmove(dst, b"abcdef", 6)
    assert ffi.string(dst) == b"abcdef"
    ffi.memmove(dst + 1, dst, 4)  # overlapping, like C memmove
    assert ffi.string(dst) == b"aabcdf"
    out = bytearray(4)
    ffi.memmove(out, ffi.new("int *", 0x01020304), 4)
    assert out == bytearray(b"\x04\x03\x02\x01")


@pytest.mark.ffi_py_only
def test_memmove_refuses_to_read_past_a_python_source(ffi):
    # cffi copies whatever follows the bytes object; ffi_py refuses.
    with pytest.raises(ValueError):
        ffi.memmove(ffi.new("char[8]"), b"ab", 5)


# --- addressof ---------------------------------------------------------------


def test_addressof_struct_fields_and_items(types):
    ffi = types
    line = ffi.new("struct line *", {"a": [1, 2], "b": [3, 4]})
    pb = ffi.addressof(line[0], "b")
    assert ffi.typeof(pb) is ffi.typeof("struct pt *")
    assert pb.y == 4
    pb.y = 40
    assert line.b.y == 40
    assert ffi.addressof(line[0]) == line
    assert ffi.addressof(line[0], "b", "y")[0] == 40
    name3 = ffi.addressof(line[0], "name", 3)
    assert name3 - ffi.cast("char *", line.name) == 3
    offset = int(ffi.cast("intptr_t", pb)) - int(ffi.cast("intptr_t", line))
    assert offset == ffi.offsetof("struct line", "b")


def test_addressof_unknown_field_names_it(types):
    line = types.new("struct line *")
    with pytest.raises(KeyError) as excinfo:
        types.addressof(line[0], "nope")
    assert "nope" in str(excinfo.value)


# --- bitfields and anonymous members -----------------------------------------


def test_bitfields_pack_like_gcc_and_check_their_range(ffi):
    ffi.cdef("struct bits { unsigned a : 3; signed b : 4; unsigned c : 1; int rest; };")
    b = ffi.new("struct bits *", {"a": 5, "b": -3, "c": 1, "rest": 9})
    assert (b.a, b.b, b.c, b.rest) == (5, -3, 1, 9)
    assert ffi.sizeof("struct bits") == 8
    # a=101, b=1101 (-3), c=1 -> 0b1_1101_101 = 0xed
    assert bytes(ffi.buffer(b)) == b"\xed\x00\x00\x00\x09\x00\x00\x00"
    with pytest.raises(OverflowError):
        b.a = 8
    with pytest.raises(OverflowError):
        b.b = -9
    b.b = 7
    assert (b.a, b.b, b.c) == (5, 7, 1)


def test_anonymous_struct_and_union_members(ffi):
    ffi.cdef("struct anon { int kind; union { int i; float f; }; struct { short lo, hi; }; };")
    a = ffi.new("struct anon *", {"kind": 1, "f": 1.0, "hi": 3})
    assert (a.kind, a.i, a.f, a.lo, a.hi) == (1, 0x3F800000, 1.0, 0, 3)
    assert ffi.sizeof("struct anon") == 12
    assert ffi.offsetof("struct anon", "hi") == 10



def test_list_initialisers_skip_members_sharing_an_earlier_ones_storage(ffi):
    # Anonymous members are flattened, and a list sets the members in
    # order, except those of a union that come after its first: here 'd'.
    ffi.cdef("struct nest { struct { int a, b; }; union { int c, d; }; int e; };")
    p = ffi.new("struct nest *", [1, 2, 3, 4])
    assert (p.a, p.b, p.c, p.d, p.e) == (1, 2, 3, 3, 4)
    with pytest.raises(ValueError):
        ffi.new("struct nest *", [1, 2, 3, 4, 5])
    # A dict names any member.
    p = ffi.new("struct nest *", {"b": 12, "d": 14})
    assert (p.a, p.b, p.c, p.d, p.e) == (0, 12, 14, 14, 0)


def test_a_union_whose_first_member_is_an_anonymous_struct_takes_its_members(ffi):
    ffi.cdef("union first { struct { int a, b; }; union { int c, d; }; };")
    p = ffi.new("union first *", [123, 456])
    assert (p.a, p.b, p.c, p.d) == (123, 456, 123, 123)
    assert ffi.new("union first *", [5]).b == 0
    for too_many in ([1, 2, 3], (1, 2, 3)):
        with pytest.raises(ValueError):
            ffi.new("union first *", too_many)


def test_cfield_flags_mark_members_a_list_initialiser_skips(ffi):
    ffi.cdef("""
        struct deep { int a; union { int b; union { int c, d; }; }; int e; };
        union plain { int i; short s; };
    """)
    fields = [(name, f.offset, f.flags) for name, f in ffi.typeof("struct deep").fields]
    assert fields == [("a", 0, 0), ("b", 4, 0), ("c", 4, 1), ("d", 4, 1), ("e", 8, 0)]
    assert [f.flags for _, f in ffi.typeof("union plain").fields] == [0, 1]


@pytest.mark.parametrize("declared", ["data[0]", "data[]"])
def test_a_trailing_array_member_of_cast_memory_is_a_pointer_to_its_items(ffi, declared):
    # The C idiom for a variable-size struct: allocate more, cast, index.
    ffi.cdef(f"struct var {{ int len; short {declared}; }};")
    buf = ffi.new("char[]", ffi.sizeof("struct var") + 7 * ffi.sizeof("short"))
    q = ffi.cast("struct var *", buf)
    assert ffi.typeof(q.data) is ffi.typeof("short *")
    assert q.data == ffi.cast("short *", buf + ffi.sizeof("struct var"))
    q.data[6] = 15
    assert q.data[6] == 15
    assert ffi.cast("short *", buf)[2 + 6] == 15
    # The member's own type is unchanged.
    assert dict(ffi.typeof("struct var").fields)["data"].type is ffi.typeof(f"short[{declared[5:-1]}]")


def test_a_trailing_array_member_of_new_memory_is_bounds_checked(ffi):
    # In memory `new` allocated, a 'T[]' member is an array of the items
    # that fit (none here: the allocation is sizeof(struct)).
    ffi.cdef("struct flex { int len; short data[]; }; struct zero { int len; short data[0]; };")
    p = ffi.new("struct flex *")
    assert ffi.typeof(p.data) is ffi.typeof("short[]")
    assert len(p.data) == 0
    with pytest.raises(IndexError):
        p.data[0]
    with pytest.raises(IndexError):
        p.data[0] = 1
    # 'T[0]' stays a pointer, as in cffi.
    assert ffi.typeof(ffi.new("struct zero *").data) is ffi.typeof("short *")

def test_number_members_read_and_write_by_any_name_object(ffi):
    # Attribute names in source are interned strings; a name built at run
    # time is a different object with the same text. Both must reach the
    # member, with the same range checks.
    ffi.cdef("struct nums { signed char c; unsigned short u; float f; double d;"
             " long l; unsigned long long q; _Bool b; };")
    p = ffi.new("struct nums *")
    values = dict(c=-128, u=65535, f=1.5, d=-2.25, l=-(2**63), q=2**64 - 1, b=True)
    for name, value in values.items():
        built = "".join(list(name))
        setattr(p, built, value)
        assert getattr(p, name) == value
        assert getattr(p, built) == value
    p.q = 0
    p.b = 0
    assert (p.q, p.b) == (0, False)
    for name, bad, error in [("c", 128, OverflowError), ("u", -1, OverflowError),
                             ("q", 2**64, OverflowError), ("b", 2, OverflowError),
                             ("f", "x", TypeError), ("l", 1.5, TypeError)]:
        with pytest.raises(error):
            setattr(p, name, bad)
        with pytest.raises(error):
            setattr(p, "".join(list(name)), bad)
    value = ffi.new("struct nums *")[0]  # the struct itself, not a pointer
    value.d = 0.5
    assert value.d == 0.5


def test_members_of_a_struct_completed_after_its_pointer_type_was_used(ffi):
    ffi.cdef("struct later;")
    buf = ffi.new("char[64]")
    q = ffi.cast("struct later *", buf)
    with pytest.raises(AttributeError):
        q.x
    ffi.cdef("struct later { int x; double y; };")
    q.x, q.y = 7, 0.25
    assert (q.x, q.y) == (7, 0.25)
    assert ffi.cast("int *", buf)[0] == 7


def test_int_of_a_pointer_is_type_error_but_cast_gives_the_address(ffi):
    p = ffi.new("float *", 1.5)
    with pytest.raises(TypeError):
        int(p)
    with pytest.raises(TypeError):
        float(p)
    assert int(ffi.cast("intptr_t", p)) != 0


def test_cast_to_bool_is_cs_conversion(ffi):
    assert [int(ffi.cast("_Bool", v)) for v in (0.1, -0.0, 0.0, 2, 0)] == [1, 0, 0, 1, 0]
    assert [int(ffi.cast("_Bool", b)) for b in (b"\x02", b"\x00", b"\x80")] == [1, 0, 1]


def test_a_number_cdata_hashes_as_its_value(ffi):
    for ctype, value in [("int64_t", -(2**63)), ("int", -1), ("uint64_t", 2**64 - 1),
                         ("double", 0.5), ("_Bool", True)]:
        cdata = ffi.cast(ctype, value)
        assert hash(cdata) == hash(int(cdata) if ctype != "double" else float(cdata))
    assert hash(ffi.cast("char", 65)) == hash(b"A")  # it equals b"A"
    assert len({ffi.cast("long", 7), ffi.cast("short", 7)}) == 1


def test_cast_to_an_array_of_known_length_views_the_pointed_memory(ffi):
    p = ffi.new("int[4]", [-5, 1, 2, 3])
    q = ffi.cast("int[3]", p)
    assert (len(q), q[0], q[2]) == (3, -5, 2)
    assert ffi.typeof(q) is ffi.typeof("int[3]")
    with pytest.raises(IndexError):
        q[3]


@pytest.mark.ffi_py_only  # cffi makes an array at any integer address
def test_cast_to_an_array_needs_a_pointer_or_array(ffi):
    for not_a_pointer in (0, ffi.cast("int", 1), 1.5):
        with pytest.raises(TypeError):
            ffi.cast("int[3]", not_a_pointer)


def test_pointers_to_pointers_are_spelt_as_cffi_spells_them(ffi):
    assert repr(ffi.new("int **")) == "<cdata 'int * *' owning 8 bytes>"
    assert ffi.typeof("char ***").cname == "char * * *"
    assert ffi.typeof("int(**)(int)").cname == "int(* *)(int)"
    assert ffi.typeof("int *[2][3]").cname == "int *[2][3]"


# --- items of number arrays and pointers (the direct read and write) --------

@pytest.mark.parametrize("ctype, low, high", [
    ("int8_t", -2**7, 2**7 - 1), ("uint8_t", 0, 2**8 - 1),
    ("int16_t", -2**15, 2**15 - 1), ("uint16_t", 0, 2**16 - 1),
    ("int32_t", -2**31, 2**31 - 1), ("uint32_t", 0, 2**32 - 1),
    ("int64_t", -2**63, 2**63 - 1), ("uint64_t", 0, 2**64 - 1),
    ("_Bool", 0, 1),
])
def test_integer_items_round_trip_and_refuse_overflow(ffi, ctype, low, high):
    array = ffi.new(f"{ctype}[2]")
    pointer = ffi.cast(f"{ctype} *", array)
    for target in (array, pointer):
        target[0], target[1] = low, high
        assert (target[0], target[1]) == (low, high)
        with pytest.raises(OverflowError):
            target[1] = high + 1
        with pytest.raises(OverflowError):
            target[0] = low - 1
        with pytest.raises(TypeError):
            target[0] = "1"
        assert (target[0], target[1]) == (low, high)


@pytest.mark.parametrize("ctype", ["float", "double"])
def test_float_items_round_trip(ffi, ctype):
    array = ffi.new(f"{ctype}[2]")
    array[0], array[1] = 1.5, -3  # an int converts, as in C
    assert (array[0], array[1]) == (1.5, -3.0)
    assert type(array[1]) is float
    with pytest.raises(TypeError):
        array[0] = "1.5"


def test_item_index_checks_apply_to_number_items(ffi):
    array = ffi.new("int[3]", [1, 2, 3])
    for bad in (3, -1, 2**70):
        with pytest.raises(IndexError):
            array[bad]
    with pytest.raises(TypeError):
        array["0"]
    null = ffi.cast("int *", 0)
    with pytest.raises(RuntimeError):
        null[0]
    pointer = ffi.cast("int *", array) + 2
    assert pointer[-2] == 1  # pointers index both ways, as in C


# --- pointer cdata nobody keeps are reused (PointerPool) ---------------------

def test_kept_pointers_keep_their_values(ffi):
    array = ffi.new("int[8]", list(range(8)))
    base = int(ffi.cast("intptr_t", array))
    size = ffi.sizeof("int")
    # Integer addresses: casts without an owner, the reusable kind.
    kept = [ffi.cast("int *", base + i * size) for i in range(8)]
    assert [p[0] for p in kept] == list(range(8))
    assert len({id(p) for p in kept}) == 8
    # Temporaries in between do not disturb the kept ones.
    assert [ffi.cast("int *", base + i * size)[0] for i in range(8)] == list(range(8))
    assert [p[0] for p in kept] == list(range(8))


def test_weakly_referenced_pointer_keeps_its_value(ffi):
    import weakref
    p = ffi.cast("int *", 16)
    ref = weakref.ref(p)
    del p
    for _ in range(8):
        ffi.cast("int *", 32)
    p = ref()
    assert p is None or int(ffi.cast("intptr_t", p)) == 16


@pytest.mark.ffi_py_only
def test_dropped_pointers_and_struct_results_are_reused(ffi, libc):
    # The pool's point: a temporary nobody kept is refilled, not remade
    # (this fails if the privacy check turns reuse off altogether).
    first = id(ffi.cast("int *", 16))
    assert id(ffi.cast("int *", 32)) == first
    first = id(libc.div(7, 3))
    assert id(libc.div(9, 4)) == first
    kept = ffi.cast("int *", 16)
    assert id(ffi.cast("int *", 32)) != id(kept)


def test_kept_pointers_are_freed_as_soon_as_they_are_dropped(ffi, libc):
    # More kept results than a type's pool holds (four): each new one takes
    # the slot of one still in use, and the pool's reference to that one
    # must go at once, not wait for pyo3's deferred decrefs, so that the
    # user's last reference frees it. Only what the pool still holds may
    # outlive the user's references (the guide's note on weak references).
    import weakref
    text = b"abcdefghij"
    for make in (lambda i: ffi.cast("int *", 16 * (i + 1)),
                 lambda i: libc.strchr(text, text[i])):
        kept = [make(i) for i in range(10)]
        refs = [weakref.ref(p) for p in kept]
        del kept
        assert sum(r() is not None for r in refs) <= 4


def test_deleting_a_field_or_an_item_raises(ffi):
    ffi.cdef("struct del_pt { int x; };")
    p = ffi.new("struct del_pt *")
    with pytest.raises(AttributeError):
        del p.x
    a = ffi.new("int[2]")
    with pytest.raises(TypeError):
        del a[0]
    assert p.x == 0 and list(a) == [0, 0]


@pytest.mark.ffi_py_only
def test_cdata_objects_have_the_subtype_with_plain_slots(ffi, libc):
    # fast_cdata.rs: every way of making a cdata gives it the subtype whose
    # attribute and item slots skip pyo3's trampolines (this fails if the
    # subtype is silently not made).
    made = [ffi.new("int *"), ffi.new("int[3]"), ffi.cast("int *", 8),
            ffi.cast("int", 1), libc.div(7, 3), libc.strchr(b"ab", ord("b")),
            ffi.new("int[3]")[0:2]]
    for p in made:
        assert isinstance(p, ffi.CData)
        assert type(p) is not ffi.CData and type(p).__name__ == "CData"
