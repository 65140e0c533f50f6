"""ffi.cdef and the type queries: sizeof, alignof, offsetof, typeof,
getctype, list_types, and the errors of declarations and type names."""

import pytest

from ffi_py import CDefError, FFI, FFIError
from _support import message_has


def test_cdef_returns_none_and_declares_every_kind_of_type(ffi):
    result = ffi.cdef("""
        typedef int my_int;
        struct point { int x; int y; };
        union number { int i; double d; };
        enum level { LOW, MID = 10, HIGH };
        typedef struct { char tag; double value; } tagged;
        typedef int (*binop)(int, int);
    """)
    assert result is None
    assert ffi.sizeof("my_int") == 4
    assert ffi.sizeof("struct point") == 8
    assert ffi.sizeof("union number") == 8
    assert ffi.sizeof("enum level") == 4
    assert ffi.sizeof("tagged") == 16
    assert ffi.sizeof("binop") == 8


def test_cdef_accumulates_across_calls(ffi):
    ffi.cdef("struct a { int x; };")
    ffi.cdef("struct b { struct a inner; char c; };")
    assert ffi.sizeof("struct b") == 8
    assert ffi.offsetof("struct b", "c") == 4


def test_define_constants_and_enum_values_are_on_the_library(ffi):
    ffi.cdef("""
        #define ANSWER 42
        #define MASK 0x10
        #define NEG -3
        enum level { LOW, MID = 10, HIGH };
    """)
    lib = ffi.dlopen(None)
    assert (lib.ANSWER, lib.MASK, lib.NEG) == (42, 16, -3)
    assert (lib.LOW, lib.MID, lib.HIGH) == (0, 10, 11)
    assert {"ANSWER", "MASK", "NEG", "LOW", "MID", "HIGH"} <= set(dir(lib))


def test_enum_ctype_maps_values_to_names(ffi):
    ffi.cdef("enum level { LOW, MID = 10, HIGH };")
    ct = ffi.typeof("enum level")
    assert ct.kind == "enum"
    assert ct.elements == {0: "LOW", 10: "MID", 11: "HIGH"}
    assert ct.relements == {"LOW": 0, "MID": 10, "HIGH": 11}
    # An enum cdata shows its name, and compares by value.
    e = ffi.cast("enum level", 10)
    assert int(e) == 10
    assert "MID" in repr(e)


def test_redeclaring_a_typedef_differently_needs_override(ffi):
    ffi.cdef("typedef int word;")
    # cffi raises FFIError here, ffi_py CDefError; both name the type.
    with pytest.raises((FFIError, CDefError)) as excinfo:
        ffi.cdef("typedef long word;")
    assert "word" in str(excinfo.value)
    ffi.cdef("typedef long word;", override=True)
    assert ffi.sizeof("word") == 8


def test_rejected_redeclaration_keeps_the_first(ffi):
    ffi.cdef("typedef short half;")
    with pytest.raises((FFIError, CDefError)):
        ffi.cdef("typedef long half;")
    assert ffi.sizeof("half") == 2


def test_packed_removes_all_padding(ffi):
    ffi.cdef("struct loose { char a; int b; };")
    packed = FFI()
    packed.cdef("struct tight { char a; int b; short c; };", packed=True)
    assert ffi.sizeof("struct loose") == 8
    assert packed.sizeof("struct tight") == 7
    assert packed.offsetof("struct tight", "b") == 1
    assert packed.alignof("struct tight") == 1


def test_pack_caps_member_alignment(ffi):
    ffi.cdef("struct p2 { char a; int b; double c; };", pack=2)
    assert ffi.offsetof("struct p2", "b") == 2
    assert ffi.offsetof("struct p2", "c") == 6
    assert ffi.sizeof("struct p2") == 14
    assert ffi.alignof("struct p2") == 2


def test_packed_struct_members_read_and_write(ffi):
    ffi.cdef("struct tight { char a; int b; };", packed=True)
    p = ffi.new("struct tight *", {"a": b"x", "b": -123456})
    assert p.a == b"x"
    assert p.b == -123456
    assert bytes(ffi.buffer(p)) == b"x" + (-123456).to_bytes(4, "little", signed=True)


@pytest.mark.parametrize(
    "source, position",
    [
        ("int f(;", "1:7"),
        ("struct t { int a };", "1:18"),
        ("\n\n  foo_t x;", "3:3"),
    ],
)
def test_malformed_cdef_raises_cdef_error_with_line_and_column(ffi, source, position):
    with pytest.raises(CDefError) as excinfo:
        ffi.cdef(source)
    assert position in str(excinfo.value)


@pytest.mark.ffi_py_only
def test_cdef_error_names_the_problem_and_shows_the_line(ffi):
    with pytest.raises(CDefError) as excinfo:
        ffi.cdef("int ok(int);\nint bad(int x, );\n")
    message = str(excinfo.value)
    assert "line 2:" in message
    assert "int bad(int x, );" in message


def test_cdef_error_for_unknown_type_names_it(ffi):
    with pytest.raises(CDefError) as excinfo:
        ffi.cdef("mystery_t make(void);")
    assert "mystery_t" in str(excinfo.value)


def test_function_definitions_are_rejected(ffi):
    with pytest.raises(CDefError) as excinfo:
        ffi.cdef("int f(int x) { return x; }")
    assert "1:" in str(excinfo.value)


def test_failed_cdef_leaves_earlier_declarations_usable(ffi):
    ffi.cdef("struct ok { int v; };")
    with pytest.raises(CDefError):
        ffi.cdef("struct broken { int v }")
    assert ffi.sizeof("struct ok") == 4


@pytest.mark.parametrize(
    "ctype, size, align",
    [
        ("char", 1, 1),
        ("short", 2, 2),
        ("int", 4, 4),
        ("long", 8, 8),
        ("long long", 8, 8),
        ("float", 4, 4),
        ("double", 8, 8),
        ("long double", 16, 16),
        ("void *", 8, 8),
        ("_Bool", 1, 1),
        ("int8_t", 1, 1),
        ("uint16_t", 2, 2),
        ("int32_t", 4, 4),
        ("uint64_t", 8, 8),
        ("size_t", 8, 8),
        ("ssize_t", 8, 8),
        ("intptr_t", 8, 8),
        ("wchar_t", 4, 4),
        ("char16_t", 2, 2),
        ("char32_t", 4, 4),
        ("int[5]", 20, 4),
        ("char *[3]", 24, 8),
    ],
)
def test_sizeof_and_alignof_of_builtin_types(ffi, ctype, size, align):
    assert ffi.sizeof(ctype) == size
    assert ffi.alignof(ctype) == align


def test_sizeof_accepts_ctypes_and_cdata(ffi):
    ffi.cdef("struct s { char a; double b; };")
    assert ffi.sizeof(ffi.typeof("struct s")) == 16
    p = ffi.new("struct s *")
    assert ffi.sizeof(p) == 8  # the pointer
    assert ffi.sizeof(p[0]) == 16  # the struct it points to
    assert ffi.sizeof(ffi.new("int[]", [1] * 7)) == 28


def test_offsetof_nested_fields_and_array_items(ffi):
    ffi.cdef("""
        struct p { int x, y; };
        struct o { char a; struct p in; int arr[3]; };
    """)
    assert ffi.offsetof("struct o", "in") == 4
    assert ffi.offsetof("struct o", "in", "y") == 8
    assert ffi.offsetof("struct o", "arr") == 12
    assert ffi.offsetof("struct o", "arr", 2) == 20
    assert ffi.offsetof("int[5]", 3) == 12


def test_offsetof_accepts_a_pointer_to_struct(ffi):
    ffi.cdef("struct s { char a; int b; };")
    assert ffi.offsetof("struct s *", "b") == 4


def test_offsetof_unknown_field_names_it(ffi):
    ffi.cdef("struct s { int a; };")
    with pytest.raises(KeyError) as excinfo:
        ffi.offsetof("struct s", "nope")
    assert "nope" in str(excinfo.value)


def test_unknown_type_name_is_a_cdef_error_naming_it(ffi):
    for call in (ffi.sizeof, ffi.typeof, ffi.new, ffi.alignof):
        with pytest.raises(CDefError) as excinfo:
            call("unknown_t *")
        assert "unknown_t" in str(excinfo.value)


def test_undeclared_struct_is_opaque(ffi):
    pp = ffi.new("struct opaque **")
    assert pp[0] == ffi.NULL
    assert ffi.typeof("struct opaque").cname == "struct opaque"
    with pytest.raises(TypeError):
        ffi.new("struct opaque *")


def test_struct_and_union_of_one_tag_are_two_types(ffi):
    ffi.cdef("""
        struct foo { int a; short b, c, d; };
        union foo { int a; short b, c, d; };
    """)
    assert ffi.sizeof("struct foo") == 12
    assert ffi.sizeof("union foo") == 4
    assert ffi.typeof("struct foo") is not ffi.typeof("union foo")
    assert ffi.typeof("union foo").kind == "union"


def test_type_names_may_define_an_anonymous_struct_or_union(ffi):
    assert ffi.sizeof("struct{int a;}") == ffi.sizeof("int")
    p = ffi.new("struct { int i[4]; char c; } *", {"i": [1, 2, 3, 4], "c": b"x"})
    assert (list(p.i), p.c) == ([1, 2, 3, 4], b"x")
    assert ffi.sizeof("union { int i; double d; }[3]") == 24


def test_an_array_parameter_may_be_of_a_struct_completed_later(ffi):
    # The parameter is a pointer, so the element need not be complete yet.
    ffi.cdef("""
        struct bar_s;
        struct foo_s { void (*foo)(struct bar_s[]); };
        struct bar_s { struct foo_s foo; };
    """)
    q = ffi.new("struct foo_s *")
    assert ffi.typeof(q.foo) is ffi.typeof("void(*)(struct bar_s *)")
    assert ffi.sizeof("struct bar_s") == ffi.sizeof("void *")


def test_an_enum_without_values_is_unsigned_int_with_a_warning(ffi):
    ffi.cdef("enum foo;")
    with pytest.warns(UserWarning) as log:
        n = ffi.cast("enum foo", -1)
    assert int(n) == 0xFFFFFFFF
    assert str(log[0].message) == (
        "'enum foo' has no values explicitly defined; "
        "guessing that it is equivalent to 'unsigned int'"
    )
    # Also when the first use is through pointers and arrays.
    ffi.cdef("enum bar;")
    with pytest.warns(UserWarning, match="'enum bar' has no values"):
        assert ffi.sizeof("enum bar *[2]") == 2 * ffi.sizeof("void *")


def test_an_enum_with_dots_is_known_only_to_the_compiler(ffi):
    from ffi_py import VerificationMissing

    ffi.cdef("enum foo { A, ... }; enum bar { B, C };")
    lib = ffi.dlopen(None)
    assert (lib.B, lib.C) == (0, 1)
    with pytest.raises(VerificationMissing):
        lib.A
    with pytest.raises(VerificationMissing):
        ffi.cast("enum foo *", 0)
    with pytest.raises(CDefError):
        ffi.cdef("enum baz { ..., D };")


def test_typeof_describes_types(ffi):
    ffi.cdef("struct pt { int x; double y; };")
    st = ffi.typeof("struct pt")
    assert (st.kind, st.cname) == ("struct", "struct pt")
    assert [name for name, _ in st.fields] == ["x", "y"]
    fx, fy = (field for _, field in st.fields)
    assert (fx.offset, fx.type) == (0, ffi.typeof("int"))
    assert (fy.offset, fy.type) == (8, ffi.typeof("double"))

    arr = ffi.typeof("short[6]")
    assert (arr.kind, arr.length, arr.item) == ("array", 6, ffi.typeof("short"))
    ptr = ffi.typeof("char *")
    assert (ptr.kind, ptr.item) == ("pointer", ffi.typeof("char"))
    assert ffi.typeof("double").kind == "primitive"
    assert ffi.typeof("void").kind == "void"
    assert repr(ffi.typeof("int *")) == "<ctype 'int *'>"


def test_typeof_is_interned_per_type(ffi):
    assert ffi.typeof("int *") is ffi.typeof("int*")
    assert ffi.typeof("int") is FFI().typeof("int")
    assert ffi.typeof(ffi.new("long *")) is ffi.typeof("long *")
    assert ffi.typeof("int *") != ffi.typeof("long *")


def test_function_pointer_ctype_describes_the_signature(ffi):
    ct = ffi.typeof("int(*)(long, ...)")
    assert ct.kind == "function"
    assert ct.args == (ffi.typeof("long"),)
    assert ct.result == ffi.typeof("int")
    assert ct.ellipsis is True


def test_typeof_of_a_non_type_is_a_type_error(ffi):
    with pytest.raises(TypeError):
        ffi.typeof(5)
    with pytest.raises(TypeError):
        ffi.sizeof(5)


def test_getctype_builds_c_declarations(ffi):
    assert ffi.getctype("int") == "int"
    assert ffi.getctype("int", "*") == "int *"
    assert ffi.getctype("int", "[5]") == "int[5]"
    assert ffi.getctype("int[5]", "*p") == "int(*p)[5]"
    assert ffi.getctype(ffi.typeof("char *")) == "char *"
    # cffi's spacing: a name is set off by a space, after '*' too.
    assert ffi.getctype("int *", "x") == "int * x"
    assert ffi.getctype(ffi.typeof("int *"), "*") == "int * *"
    assert ffi.getctype("int[5]", " ** foo ") == "int(** foo)[5]"
    assert ffi.getctype("int(*[5])(int)") == "int(*[5])(int)"


def test_list_types_names_typedefs_structs_and_unions(ffi):
    ffi.cdef("""
        typedef int t_one; typedef long t_two;
        struct s_one { int a; }; struct s_two;
        union u_one { int a; };
    """)
    typedefs, structs, unions = ffi.list_types()
    assert sorted(typedefs) == ["t_one", "t_two"]
    assert sorted(structs) == ["s_one", "s_two"]
    assert unions == ["u_one"]


def test_cdata_and_ctype_classes(ffi):
    assert isinstance(ffi.new("int *"), ffi.CData)
    assert isinstance(ffi.NULL, ffi.CData)
    assert isinstance(ffi.typeof("int"), ffi.CType)
    assert not isinstance(5, ffi.CData)


@pytest.mark.ffi_py_only
def test_ffi_error_is_the_module_exception():
    ffi = FFI()
    assert ffi.error is FFIError
    assert issubclass(CDefError, Exception)


def test_packed_is_a_bool_and_pack_a_power_of_two(ffi):
    with pytest.raises(ValueError):
        ffi.cdef("struct a { char c; int i; };", packed=2)
    with pytest.raises(ValueError):
        ffi.cdef("struct b { char c; int i; };", pack=3)
    with pytest.raises(ValueError):
        ffi.cdef("struct c { char c; int i; };", packed=True, pack=1)
    ffi.cdef("struct d { char c; int i; };", packed=1)
    assert ffi.sizeof("struct d") == 5


def test_include_shares_types_and_constants(ffi):
    from ffi_py import FFIError

    FFI = type(ffi)
    base = FFI()
    base.cdef("typedef struct { int quot; int rem; } div_t;\n#define SEVEN 7\n"
              "struct node { struct node *next; int v; };")
    ffi.include(base)
    ffi.cdef("div_t div(int, int); int count(struct node *);")
    lib = ffi.dlopen(None)
    result = lib.div(lib.SEVEN, 2)
    assert (result.quot, result.rem) == (3, 1)
    assert ffi.typeof("div_t") is base.typeof("div_t")
    node = base.new("struct node *", {"v": lib.SEVEN})
    assert ffi.typeof(node) is ffi.typeof("struct node *")
    assert node.v == 7
    with pytest.raises(ValueError):
        ffi.include(ffi)
    clash = FFI()
    clash.cdef("typedef long div_t;")
    with pytest.raises(FFIError) as excinfo:  # as cffi
        clash.include(base)
    assert "div_t" in str(excinfo.value)
    assert clash.sizeof("div_t") == 8  # nothing was included


def test_redeclaring_differently_is_ffi_error_and_malformed_is_cdef_error(ffi):
    from ffi_py import CDefError, FFIError

    ffi.cdef("#define FOO 42\ntypedef int foo_t;")
    ffi.cdef("#define FOO 42\ntypedef int foo_t;")  # the same again: fine
    with pytest.raises(FFIError):
        ffi.cdef("#define FOO 43")
    with pytest.raises(FFIError):
        ffi.cdef("typedef long foo_t;")
    with pytest.raises(CDefError):
        ffi.cdef("typedef long;")
    assert ffi.sizeof("foo_t") == 4
