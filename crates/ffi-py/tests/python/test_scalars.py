"""Every C scalar type through a real call, at its limits: argument
conversion, the callee's view (widened to long long by C), and the result
conversion. Uses clib/helper.c's helper_id_* and helper_widen_*."""

import math

import pytest

INTEGER_TYPES = [
    # (C type, helper suffix, minimum, maximum)
    ("signed char", "schar", -128, 127),
    ("unsigned char", "uchar", 0, 255),
    ("short", "short", -(2**15), 2**15 - 1),
    ("unsigned short", "ushort", 0, 2**16 - 1),
    ("int", "int", -(2**31), 2**31 - 1),
    ("unsigned int", "uint", 0, 2**32 - 1),
    ("long", "long", -(2**63), 2**63 - 1),
    ("long long", "llong", -(2**63), 2**63 - 1),
]


@pytest.fixture
def scalars(ffi, helper_path):
    decls = []
    for ctype, name, _, _ in INTEGER_TYPES + [("_Bool", "bool", 0, 1)]:
        decls.append(f"{ctype} helper_id_{name}({ctype});")
        decls.append(f"long long helper_widen_{name}({ctype});")
    decls.append("""
        unsigned long long helper_id_ullong(unsigned long long);
        float helper_id_float(float);
        double helper_id_double(double);
        char helper_id_char(char);
        void *helper_id_ptr(void *);
        double helper_many(signed char, unsigned short, int, long long,
                           unsigned char, short, unsigned int, long,
                           float, double, float, double, float,
                           double, float, double, float, double);
    """)
    ffi.cdef("\n".join(decls))
    return ffi.dlopen(str(helper_path))


@pytest.mark.parametrize("ctype, name, low, high", INTEGER_TYPES, ids=[t[1] for t in INTEGER_TYPES])
def test_integer_round_trip_at_the_limits(scalars, ctype, name, low, high):
    ident = getattr(scalars, f"helper_id_{name}")
    widen = getattr(scalars, f"helper_widen_{name}")
    for value in (low, low + 1, -1 if low else 1, 0, 1, high - 1, high):
        assert ident(value) == value
        assert widen(value) == value  # what C saw
    with pytest.raises(OverflowError):
        ident(high + 1)
    with pytest.raises(OverflowError):
        ident(low - 1)


def test_unsigned_long_long_round_trip(scalars):
    for value in (0, 1, 2**63, 2**64 - 1):
        assert scalars.helper_id_ullong(value) == value
    with pytest.raises(OverflowError):
        scalars.helper_id_ullong(-1)
    with pytest.raises(OverflowError):
        scalars.helper_id_ullong(2**64)


def test_bool_round_trip(scalars):
    assert scalars.helper_id_bool(True) is True
    assert scalars.helper_id_bool(False) is False
    assert scalars.helper_id_bool(1) is True
    assert scalars.helper_widen_bool(True) == 1
    with pytest.raises(OverflowError):
        scalars.helper_id_bool(2)


def test_char_round_trip(scalars):
    for value in (b"\x00", b"A", b"\x7f", b"\x80", b"\xff"):
        assert scalars.helper_id_char(value) == value
    with pytest.raises(TypeError):
        scalars.helper_id_char(b"AB")
    with pytest.raises(TypeError):
        scalars.helper_id_char(65)


def test_float_round_trip_rounds_to_single_precision(scalars):
    assert scalars.helper_id_float(1.5) == 1.5
    assert scalars.helper_id_float(0.1) == 0.10000000149011612
    assert scalars.helper_id_float(-0.0) == 0.0
    assert math.copysign(1, scalars.helper_id_float(-0.0)) == -1
    assert scalars.helper_id_float(float("inf")) == float("inf")
    assert math.isnan(scalars.helper_id_float(float("nan")))
    assert scalars.helper_id_float(1e39) == float("inf")  # beyond FLT_MAX


def test_double_round_trip(scalars):
    for value in (0.0, -1.25, 5e-324, 1.7976931348623157e308, float("-inf")):
        assert scalars.helper_id_double(value) == value
    assert scalars.helper_id_double(3) == 3.0  # an int converts
    with pytest.raises(TypeError):
        scalars.helper_id_double("1.0")


def test_pointer_round_trip(ffi, scalars):
    a = ffi.new("int[2]")
    assert scalars.helper_id_ptr(a) == a
    assert scalars.helper_id_ptr(ffi.NULL) == ffi.NULL
    high = ffi.cast("void *", 2**64 - 8)
    assert int(ffi.cast("uintptr_t", scalars.helper_id_ptr(high))) == 2**64 - 8


def test_arguments_beyond_the_registers(scalars):
    ints = [-5, 60000, -70000, -(2**40), 200, -300, 4_000_000_000, 2**50]
    floats = [0.5, 1.25, -2.5, 3.75, 4.5, -5.25, 6.5, 7.75, -8.5, 9.25]
    expected = sum(v * (i + 1) for i, v in enumerate(ints + floats))
    assert scalars.helper_many(*ints, *floats) == expected
