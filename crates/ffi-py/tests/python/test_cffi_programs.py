"""Declarations real cffi programs write in ABI mode: cffi's `...`
placeholders (opaque `typedef ... T;`, partial structs, `[...]` lengths,
`typedef int... T;`, `#define X ...`), `extern "Python"` declarations, and
`bytes` for arrays of 1-byte integers.

The snippets are shaped like those of packages that use them (GLib/Pango
bindings, X11 protocol bindings, image processing libraries, cairo
bindings), written for these tests. Every expectation here is cffi's ABI
mode behaviour: the file passes with `--against cffi` too, except for the
wording of ffi_py's messages (`message_has`, skipped there).
"""

import pytest

from _support import message_has


def _classes():
    from ffi_py import CDefError, VerificationMissing

    return CDefError, VerificationMissing


# ---- 1. `typedef ... T;`: an opaque type ----

# Object handles of a GLib-based library, only ever used through pointers.
GOBJECT_LIKE = """
    typedef ... GObject;
    typedef ... PangoLayout;
    typedef ... PangoFontDescription;
    typedef struct { PangoLayout *layout; int width; int height; } Box;
    PangoLayout *layout_new(GObject *context);
    void object_unref(void *object);
"""

# A protocol binding's connection handles.
XCB_LIKE = """
    typedef ... xcb_connection_t;
    typedef ... xcb_extension_t;
    typedef struct { unsigned int sequence; } xcb_void_cookie_t;
    xcb_connection_t *xcb_connect(const char *display, int *screen);
    int xcb_connection_has_error(xcb_connection_t *c);
"""


def test_an_opaque_typedef_is_usable_through_pointers(ffi):
    ffi.cdef(GOBJECT_LIKE)
    layout = ffi.typeof("PangoLayout")
    assert (layout.kind, layout.cname) == ("struct", "PangoLayout")
    assert ffi.typeof("PangoLayout *").cname == "PangoLayout *"
    assert ffi.getctype("PangoLayout", "*p") == "PangoLayout *p"
    assert ffi.sizeof("PangoLayout *") == ffi.sizeof("void *")
    p = ffi.cast("PangoLayout *", 0x1000)
    assert int(ffi.cast("uintptr_t", p)) == 0x1000
    assert ffi.cast("PangoLayout *", 0) == ffi.NULL
    slot = ffi.new("PangoLayout **")
    slot[0] = p
    assert slot[0] == p
    box = ffi.new("Box *", {"layout": p, "width": 3})
    assert (box.layout, box.width) == (p, 3)
    # Functions taking and returning it are declared (a library that has
    # them would give them).
    lib = ffi.dlopen(None)
    with pytest.raises(AttributeError):
        lib.layout_new
    assert "PangoLayout" in ffi.list_types()[0]


def test_an_opaque_typedef_has_no_size(ffi):
    ffi.cdef(GOBJECT_LIKE)
    with pytest.raises(ValueError):
        ffi.sizeof("PangoLayout")
    with pytest.raises(ValueError):
        ffi.alignof("PangoLayout")
    with pytest.raises(TypeError):
        ffi.new("PangoLayout *")
    with pytest.raises(TypeError):
        ffi.cast("PangoLayout", 0)


def test_opaque_typedefs_of_a_real_library(ffi):
    # libc's directory streams, declared as a program that never looks
    # inside them would.
    ffi.cdef("""
        typedef ... DIR;
        DIR *opendir(const char *name);
        int closedir(DIR *dirp);
    """)
    libc = ffi.dlopen(None)
    d = libc.opendir(b"/")
    assert d != ffi.NULL
    assert ffi.typeof(d) is ffi.typeof("DIR *")
    assert libc.closedir(d) == 0
    assert libc.opendir(b"/no/such/directory") == ffi.NULL


def test_an_opaque_typedef_is_shared_through_include():
    from ffi_py import FFI

    # One binding declares the handles; another includes it and declares
    # functions taking them (as cairo bindings include X11 ones).
    protocol = FFI()
    protocol.cdef(XCB_LIKE)
    graphics = FFI()
    graphics.include(protocol)
    graphics.cdef("""
        typedef ... surface_t;
        surface_t *surface_create(xcb_connection_t *c, unsigned int drawable);
    """)
    assert graphics.typeof("xcb_connection_t *") is protocol.typeof(
        "xcb_connection_t *"
    )
    conn = protocol.cast("xcb_connection_t *", 0x2000)
    # A pointer from one passes where the other declared the type.
    assert graphics.cast("void *", conn) == conn
    held = graphics.new("xcb_connection_t **", conn)
    assert held[0] == conn


def test_typedef_dots_pointer_is_a_pointer_to_an_opaque_struct(ffi):
    ffi.cdef("typedef ... *session_ref; int close_session(session_ref);")
    assert ffi.typeof("session_ref").kind == "pointer"
    assert ffi.sizeof("session_ref") == ffi.sizeof("void *")
    assert ffi.cast("session_ref", 0) == ffi.NULL


def test_an_opaque_typedef_declared_again_is_a_redefinition(ffi):
    from ffi_py import FFIError

    ffi.cdef("typedef ... T;")
    with pytest.raises(FFIError):
        ffi.cdef("typedef ... T;")
    with pytest.raises(FFIError):
        ffi.cdef("typedef int T;")


# ---- 2. `extern "Python"` ----

# Callbacks a C library calls, implemented in Python in cffi's API mode;
# the same cdef is used in ABI mode, where they are only declared.
CALLBACKS_LIKE = """
    typedef ... Image;
    typedef long long gint64;
    typedef void (*LogFunc)(const char *domain, int level,
                            const char *message, void *user_data);
    int set_log_handler(const char *domain, int levels, LogFunc fn, void *data);

    extern "Python" void _log_handler(const char *, int,
        const char *, void *);
    extern "Python" void _on_progress (Image *,
        void *, void *);
    extern "Python" gint64 _on_read(void *, void *, gint64, void *);
    extern "Python+C" int _on_finish(void *);
    extern "Python" {
        int _on_write(void *, const void *, gint64, void *);
        void _on_close(void *);
    }
    size_t strlen(const char *);
"""


def test_extern_python_declarations_parse(ffi):
    ffi.cdef(CALLBACKS_LIKE)
    lib = ffi.dlopen(None)
    # The ordinary declarations around them work.
    assert lib.strlen(b"four") == 4
    assert ffi.typeof("LogFunc").kind == "function"


def test_extern_python_functions_are_not_on_the_library(ffi):
    ffi.cdef(CALLBACKS_LIKE)
    lib = ffi.dlopen(None)
    for name in ["_log_handler", "_on_progress", "_on_read", "_on_finish",
                 "_on_write", "_on_close"]:
        with pytest.raises(AttributeError) as excinfo:
            getattr(lib, name)
        message_has(excinfo, "extern \"Python\"")
        assert name not in dir(lib)
        with pytest.raises(AttributeError):
            ffi.addressof(lib, name)
    assert "strlen" in dir(lib)


def test_extern_python_names_are_apart_from_functions(ffi):
    # As in cffi: an ordinary function of the same name may be declared.
    ffi.cdef('extern "Python" size_t strlen(const char *);')
    ffi.cdef("size_t strlen(const char *);")
    assert ffi.dlopen(None).strlen(b"abc") == 3


def test_extern_python_declares_only_functions(ffi):
    CDefError, _ = _classes()
    for source in [
        'extern "Python" int counter;',
        'extern "Python" int (*callback)(int);',
        'extern "Python" { int f(int); double ratio; }',
    ]:
        with pytest.raises(CDefError):
            ffi.cdef(source)
    for source in [
        'extern "C" int g(int);',
        'extern "Python" { extern "Python" int h(int); }',
    ]:
        with pytest.raises(CDefError):
            ffi.cdef(source)


# ---- 3. cffi's other placeholders, left to the compiler ----

VERSIONED = """
    #define LIB_MAJOR_VERSION ...
    #define LIB_MINOR_VERSION ...
    #define LIB_BUFFER 4096
    int abs(int);
"""


def test_define_dots_is_not_on_the_library(ffi):
    ffi.cdef(VERSIONED)
    lib = ffi.dlopen(None)
    assert lib.LIB_BUFFER == 4096
    assert lib.abs(-3) == 3
    with pytest.raises(AttributeError) as excinfo:
        lib.LIB_MAJOR_VERSION
    message_has(excinfo, "LIB_MAJOR_VERSION", "C compiler")
    assert "LIB_MINOR_VERSION" not in dir(lib)
    assert "LIB_BUFFER" in dir(lib)


# A struct whose other members only the header knows, a typedef'd one, a
# struct with an array whose length only the header knows, and what refers
# to them.
PARTIAL = """
    struct stat_like { long size; int mode; ...; };
    typedef struct { int x, y; ...; } point_t;
    struct name_buf { int used; char name[...]; };
    struct stat_like *lookup(const char *);
    int by_value(point_t);
    extern struct stat_like current;
    extern point_t *origin;
    struct holder { struct stat_like *st; int n; };
    struct nested { point_t where; int n; };
    size_t strlen(const char *);
"""


def test_a_partial_struct_needs_the_compiler(ffi):
    from ffi_py import FFI

    _, VerificationMissing = _classes()
    # (A fresh FFI each: cffi keeps a type it failed to complete, so there
    # a second spelling leading to the same struct may not raise.)
    for spelling in ["struct stat_like", "struct stat_like *",
                     "struct stat_like *[2]", "point_t", "point_t *",
                     "struct name_buf", "struct holder", "struct holder *",
                     "struct nested", "int(*)(point_t)"]:
        fresh = FFI()
        fresh.cdef(PARTIAL)
        with pytest.raises(VerificationMissing):
            fresh.typeof(spelling)
    ffi.cdef(PARTIAL)
    lib = ffi.dlopen(None)
    with pytest.raises(VerificationMissing) as excinfo:
        ffi.sizeof("struct stat_like")
    message_has(excinfo, "struct stat_like", "C compiler")
    with pytest.raises(VerificationMissing):
        ffi.new("struct stat_like *")
    with pytest.raises(VerificationMissing):
        ffi.cast("point_t *", 0)
    with pytest.raises(VerificationMissing):
        ffi.offsetof("struct stat_like", "mode")
    with pytest.raises(VerificationMissing):
        ffi.getctype("point_t")
    with pytest.raises(VerificationMissing):
        ffi.callback("int(*)(struct stat_like *)", lambda p: 0)
    for name in ["lookup", "by_value", "current", "origin"]:
        with pytest.raises(VerificationMissing):
            getattr(lib, name)
    # What does not lead to them works.
    assert lib.strlen(b"ok") == 2
    assert ffi.sizeof("int") == 4


def test_an_array_of_unknown_length(ffi):
    CDefError, _ = _classes()
    ffi.cdef("""
        extern int table[...];
        extern const char *names[...][2];
        typedef int row_t[...];
        size_t strlen(const char *);
    """)
    lib = ffi.dlopen(None)
    for name in ["table", "names"]:
        with pytest.raises(CDefError):
            getattr(lib, name)
    with pytest.raises(CDefError):
        lib.table = [1, 2]
    with pytest.raises(CDefError):
        ffi.typeof("row_t")
    with pytest.raises(CDefError):
        ffi.typeof("row_t *")
    assert lib.strlen(b"abc") == 3


def test_an_integer_type_of_unknown_size(ffi):
    ffi.cdef("""
        typedef int... handle_id;
        typedef unsigned long... flags_t;
        typedef double... real_t;
        handle_id next_id(handle_id);
        extern flags_t current_flags;
        struct item { handle_id id; int n; };
        size_t strlen(const char *);
    """)
    lib = ffi.dlopen(None)
    for action in [
        lambda: ffi.sizeof("handle_id"),
        lambda: ffi.typeof("handle_id"),
        lambda: ffi.typeof("handle_id *"),
        lambda: ffi.cast("flags_t", 1),
        lambda: ffi.new("flags_t *"),
        lambda: ffi.sizeof("real_t"),
        lambda: ffi.typeof("struct item"),
        lambda: ffi.callback("int(*)(handle_id)", lambda x: 0),
        lambda: lib.next_id,
        lambda: lib.current_flags,
    ]:
        with pytest.raises(NotImplementedError):
            action()
    assert lib.strlen(b"a") == 1


def test_placeholders_in_one_cdef_with_everything_else(ffi):
    # Everything at once, as a binding's single cdef has it: the rest of
    # the declarations stay usable.
    ffi.cdef(GOBJECT_LIKE + CALLBACKS_LIKE.replace("size_t strlen", "int abs")
             + VERSIONED.replace("int abs(int);", "")
             + "typedef int... id_t; struct part { int a; ...; };"
             + "long labs(long);")
    lib = ffi.dlopen(None)
    assert lib.labs(-5) == 5
    assert lib.LIB_BUFFER == 4096
    assert ffi.sizeof("Box") == ffi.sizeof("void *") + 8


# ---- 4. `bytes` for arrays of 1-byte integers ----

@pytest.mark.parametrize("item", ["unsigned char", "signed char", "uint8_t",
                                  "int8_t", "char"])
def test_bytes_initialise_arrays_of_one_byte_integers(ffi, item):
    data = b"\x01\x7f\xff"
    signed = item in ("signed char", "int8_t")
    expected = [1, 127, -1 if signed else 255]
    if item == "char":
        expected = [bytes([b]) for b in data]
    array = ffi.new(f"{item}[]", data)
    assert len(array) == 4                     # a NUL after the bytes
    assert list(array) == expected + [b"\0" if item == "char" else 0]
    fixed = ffi.new(f"{item}[3]", data)        # no room for a NUL needed
    assert list(fixed) == expected
    with pytest.raises(IndexError):
        ffi.new(f"{item}[2]", data)
    ffi.cdef(f"struct msg {{ {item} body[4]; int n; }};")
    msg = ffi.new("struct msg *", {"body": b"ab", "n": 2})
    assert ffi.buffer(msg.body)[:] == b"ab\0\0"


def test_bytes_for_mime_data(ffi):
    # A cairo binding attaches image data as `unsigned char[]` made from
    # bytes, then hands C the pointer and length.
    ffi.cdef("""
        int memcmp(const unsigned char *a, const unsigned char *b, size_t n);
        void *memcpy(unsigned char *dst, const unsigned char *src, size_t n);
    """)
    lib = ffi.dlopen(None)
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    data = ffi.new("unsigned char[]", jpeg)
    assert ffi.buffer(data, len(jpeg))[:] == jpeg
    assert lib.memcmp(data, jpeg, len(jpeg)) == 0
    copy = ffi.new("unsigned char[]", len(jpeg))
    lib.memcpy(copy, data, len(jpeg))
    assert bytes(copy) == jpeg


def test_bytes_for_bool_arrays_must_be_zeros_and_ones(ffi):
    assert list(ffi.new("_Bool[]", b"\x01\x00")) == [True, False, False]
    with pytest.raises(ValueError):
        ffi.new("_Bool[]", b"\x02")


def test_bytes_do_not_initialise_wider_arrays(ffi):
    for item in ["short", "uint16_t", "int", "float"]:
        with pytest.raises(TypeError):
            ffi.new(f"{item}[]", b"ab")
    # Nor a single 1-byte integer.
    with pytest.raises(TypeError):
        ffi.new("unsigned char *", b"a")
