"""Fuzz target for ffi_py's Python API, run in-process by atheris
(`cargo xtask test` runs it for FFI_PY_FUZZ_SECS seconds, default 60):

    python fuzz_api.py [libFuzzer flags] [corpus dir]

Each input is a little program: the fuzzer's bytes choose C declarations
to `cdef` (built from fragments, or raw text), then a sequence of
operations on the whole API with values chosen from the bytes: `new` with
initialisers of every kind, `cast`, indexing, slices, members, pointer
arithmetic, `string`/`unpack`/`buffer`/`from_buffer`/`memmove`, sizes and
offsets, `release` and use after it, handles, callbacks returning wrong
things, and `ffi_py.raw` (types, structs, arrays, memory, calls into libc).

Any exception of an ordinary class is a correct answer to a wrong use;
a crash, a hang, a PanicException (a BaseException) or any other exception
(SystemError, an AssertionError of the checks below) is a finding, which
atheris reports with the input that produced it.

The operations are the ones the API promises to check: nothing here
dereferences an address it made up, or reads through pointer arithmetic,
which are undefined behaviour by design (as in C and cffi). Inputs that
would reach the defects of the open issue items are steered away from
(KNOWN_DEFECTS below); drop each guard when its fix lands.
"""

import sys

import atheris

with atheris.instrument_imports():
    import ffi_py
    from ffi_py import raw

# Each guard keeps the fuzzer off an open defect (issue "Misuse never
# crashes"); set it to False once the fix is merged.
KNOWN_DEFECTS = {
    "buffer-outlives-release": False,  # item 1: fixed (a buffer holds its memory)
    "huge-raw-arrays": False,  # item 4: fixed (compact descriptions, size limits)
    "buffer-past-end": False,  # item 7: fixed (lengths checked against known ends)
}

ORDINARY = (
    TypeError, ValueError, OverflowError, IndexError, KeyError, AttributeError,
    RuntimeError, MemoryError, BufferError, ffi_py.CDefError, ffi_py.FFIError,
    ffi_py.VerificationMissing,
)

BASE_DECLS = """
    struct fz_pt { int x; short y; };
    struct fz_rec { char tag; struct fz_pt pt; int arr[3]; unsigned flag : 3; int bits : 5;
                    double d; char *name; };
    union fz_un { int i; double d; char c[8]; };
    struct fz_fam { int n; int data[]; };
    enum fz_col { FZ_RED, FZ_GREEN = 5, FZ_BLUE = -3 };
    typedef int (*fz_fn)(int);
    long labs(long);
    int abs(int);
    size_t strlen(const char *);
"""

SCALARS = [
    "char", "signed char", "unsigned char", "short", "unsigned short", "int",
    "unsigned int", "long", "unsigned long", "long long", "unsigned long long",
    "float", "double", "long double", "_Bool", "wchar_t", "char16_t", "char32_t",
    "int8_t", "uint8_t", "int16_t", "uint64_t", "size_t", "ssize_t", "intptr_t",
    "enum fz_col",
]
POINTERS = ["void *", "char *", "int *", "struct fz_pt *", "union fz_un *", "fz_fn",
            "int **", "double *", "enum fz_col *"]
ARRAYS = ["int[]", "char[]", "double[]", "struct fz_pt[]", "int[4]", "char[8]",
          "wchar_t[]", "_Bool[3]", "unsigned char[]", "long long[2]", "int *[2]",
          "union fz_un[2]", "float[]"]
NEWABLE = ["int *", "char *", "struct fz_pt *", "struct fz_rec *", "union fz_un *",
           "struct fz_fam *", "enum fz_col *", "double *", "_Bool *", "int **",
           "long double *", "wchar_t *"] + ARRAYS
FIELDS = ["x", "y", "tag", "pt", "arr", "flag", "bits", "d", "name", "i", "c", "n", "data",
          "z", "", "__class__"]
RAW_TYPES = ["void", "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f32", "f64",
             "longdouble", "ptr"]
TYPE_WORDS = SCALARS + POINTERS + ARRAYS + [
    "void", "struct fz_nosuch", "struct fz_rec", "union fz_un", "int(int)", "int(*)(int, ...)",
    "int[][3]", "char[0]", "int[-1]", "struct { int a; }", "int(*)[4]",
]
MAX_BYTES = 1 << 16  # new() sizes past this are skipped: filling them is slow, not wrong


class Program:
    """One input's state: the data provider and the objects made so far."""

    def __init__(self, data):
        self.fdp = atheris.FuzzedDataProvider(data)
        self.ffi = ffi_py.FFI()
        self.ffi.cdef(BASE_DECLS)
        self.lib = self.ffi.dlopen(None)
        self.pool = []  # (cdata, how many bytes from its address are its own)
        self.raw_pool = []  # raw.Memory objects
        self.type_words = list(TYPE_WORDS)  # and the names this input declares

    def pick(self, items):
        return items[self.fdp.ConsumeIntInRange(0, len(items) - 1)]

    def int_value(self):
        kind = self.fdp.ConsumeIntInRange(0, 5)
        if kind == 0:
            return self.fdp.ConsumeIntInRange(-3, 300)
        if kind == 1:
            return self.fdp.ConsumeInt(8)
        if kind == 2:
            bits = self.pick([7, 8, 15, 16, 31, 32, 63, 64, 100])
            return self.pick([-1, 1]) * (2 ** bits) + self.fdp.ConsumeIntInRange(-1, 1)
        if kind == 3:
            return self.fdp.ConsumeBool()
        return self.fdp.ConsumeInt(2)

    def value(self, depth=0):
        """Any kind of initialiser or argument."""
        kind = self.fdp.ConsumeIntInRange(0, 11)
        if kind <= 2:
            return self.int_value()
        if kind == 3:
            return self.pick([0.5, -1.5, 1e300, -1e-300, float("inf"), float("nan")])
        if kind == 4:
            return self.fdp.ConsumeBytes(self.fdp.ConsumeIntInRange(0, 12))
        if kind == 5:
            return self.fdp.ConsumeUnicode(self.fdp.ConsumeIntInRange(0, 6))
        if kind == 6 and depth < 2:
            return [self.value(depth + 1) for _ in range(self.fdp.ConsumeIntInRange(0, 5))]
        if kind == 7 and depth < 2:
            return {self.pick(FIELDS): self.value(depth + 1)
                    for _ in range(self.fdp.ConsumeIntInRange(0, 4))}
        if kind == 8 and self.pool:
            return self.pick(self.pool)[0]
        if kind == 9:
            return self.pick([None, self.ffi.NULL, object(), "FZ_GREEN", b"\0"])
        if kind == 10 and self.raw_pool:
            return self.pick(self.raw_pool)
        return self.fdp.ConsumeIntInRange(0, 3)

    def type_name(self):
        if self.fdp.ConsumeIntInRange(0, 9) == 0:
            return self.fdp.ConsumeUnicodeNoSurrogates(self.fdp.ConsumeIntInRange(0, 24))
        return self.pick(self.type_words)

    # -- operations: each may raise an ordinary exception ---------------------

    def op_cdef(self):
        if self.fdp.ConsumeBool():
            source = self.fdp.ConsumeUnicodeNoSurrogates(self.fdp.ConsumeIntInRange(0, 80))
        else:
            name = f"fz_g{self.fdp.ConsumeIntInRange(0, 3)}"
            members = []
            for i in range(self.fdp.ConsumeIntInRange(0, 4)):
                t = self.pick(SCALARS + POINTERS + ["struct fz_pt", "union fz_un"])
                suffix = self.pick(["", "", f"[{self.fdp.ConsumeIntInRange(0, 5)}]",
                                    f" : {self.fdp.ConsumeIntInRange(0, 65)}", "[]"])
                members.append(f"{t} m{i}{suffix};")
            kind = self.pick(["struct", "union"])
            source = f"{kind} {name} {{ {' '.join(members)} }};"
            if self.fdp.ConsumeBool():
                source += f" typedef {kind} {name} {name}_t;"
        options = {}
        if self.fdp.ConsumeBool():
            options["packed"] = self.fdp.ConsumeBool()
        if self.fdp.ConsumeIntInRange(0, 3) == 0:
            options["pack"] = self.pick([1, 2, 4, 16, 0, 3, -1])
        self.ffi.cdef(source, override=self.fdp.ConsumeBool(), **options)
        self.type_words.append(source.split("{")[0].strip() or "int")

    def op_new(self):
        ctype = self.pick(NEWABLE + self.type_words[len(TYPE_WORDS):])
        if self.fdp.ConsumeBool():
            init = self.value()
        elif ctype.endswith("[]"):
            init = self.fdp.ConsumeIntInRange(0, 40)
        else:
            init = None
        try:
            t = self.ffi.typeof(ctype)
            item = t.item if t.kind in ("pointer", "array") else None
            size = self.ffi.sizeof(item) if item is not None and item.kind != "void" else 0
        except ORDINARY:
            size = 0
        items = 1
        if ctype.endswith("[]"):
            items = init if isinstance(init, int) else len(init) if hasattr(init, "__len__") \
                else 1
        if size * max(items, 1) > MAX_BYTES:
            return
        p = self.ffi.new(ctype) if init is None else self.ffi.new(ctype, init)
        self.pool.append((p, self.ffi.sizeof(p) if self.ffi.typeof(p).kind == "array"
                          else size))

    def op_cast(self):
        target = self.pick(SCALARS + POINTERS + ["void", "struct fz_pt", "int[2]"])
        source = self.value()
        c = self.ffi.cast(target, source)
        if self.ffi.typeof(c).kind == "primitive":
            int(c) if "float" not in target and "double" not in target else float(c)
        else:
            self.ffi.cast("intptr_t", c)  # an address: never dereferenced

    def owned(self):
        """A pool entry with the bytes it owns (arrays and pointers from new)."""
        if not self.pool:
            raise IndexError("empty pool")
        return self.pick(self.pool)

    def op_item(self):
        p, nbytes = self.owned()
        kind = self.ffi.typeof(p).kind
        if kind == "pointer":
            index = 0  # a pointer from new points at one item: the rest is not ours
        else:
            index = self.int_value()
        if self.fdp.ConsumeBool():
            p[index]
        else:
            value = self.value()
            p[index] = value
            item = self.ffi.typeof(p).item
            if item.kind == "primitive" and item.cname in ("int", "long", "short") \
                    and type(value) is int:
                assert p[index] == value, (p[index], value)

    def op_slice(self):
        p, _ = self.owned()
        start, stop = self.int_value(), self.int_value()
        if self.ffi.typeof(p).kind == "pointer":  # no known length: stay on its item
            start, stop = min(max(start, 0), 1), min(max(stop, 0), 1)
        if self.fdp.ConsumeBool():
            list(p[start:stop])
        else:
            p[start:stop] = self.value()

    def op_member(self):
        p, _ = self.owned()
        name = self.pick(FIELDS)
        target = p if self.ffi.typeof(p).kind == "pointer" else p[0]
        if self.fdp.ConsumeBool():
            getattr(target, name)
        else:
            setattr(target, name, self.value())
        if self.fdp.ConsumeBool():
            self.ffi.addressof(target, name)

    def op_arithmetic(self):
        p, _ = self.owned()
        q = p + self.int_value()  # compared and subtracted, never read through
        other, _ = self.owned()
        (q - p, p - other, p < other, p == other, q >= p, hash(p), bool(p), repr(q))

    def op_bytes(self):
        p, nbytes = self.owned()
        which = self.fdp.ConsumeIntInRange(0, 5)
        n = self.int_value()
        is_array = self.ffi.typeof(p).kind == "array"
        if which == 0:
            # Only an array's length is known: a pointer's string ends at the
            # first NUL, wherever that is (as in C).
            self.ffi.string(p) if is_array else self.ffi.string(p, min(n, 1))
        elif which == 1:
            self.ffi.unpack(p, n if is_array else min(n, 1))
        elif which == 2:
            if KNOWN_DEFECTS["buffer-past-end"] and not (0 <= n <= nbytes):
                n = nbytes
            buf = self.ffi.buffer(p, n) if self.fdp.ConsumeBool() else self.ffi.buffer(p)
            data = bytes(buf)
            buf[0:len(data)] = data
            if not KNOWN_DEFECTS["buffer-outlives-release"]:
                self.pool.append((self.ffi.from_buffer(buf), len(data)))
        elif which == 3:
            data = bytearray(self.fdp.ConsumeBytes(self.fdp.ConsumeIntInRange(0, 16)))
            view = self.ffi.from_buffer(self.pick(["char[]", "int[]", "uint8_t[]", "int *"]),
                                        data)
            self.pool.append((view, len(data)))
        else:
            other, other_bytes = self.owned()
            if KNOWN_DEFECTS["buffer-past-end"]:
                n = max(0, min(n, nbytes, other_bytes))
            self.ffi.memmove(p, self.pick([other, bytes(16), bytearray(4)]), n)

    def op_sizes(self):
        name = self.type_name()
        which = self.fdp.ConsumeIntInRange(0, 4)
        if which == 0:
            self.ffi.sizeof(name)
        elif which == 1:
            self.ffi.alignof(name)
        elif which == 2:
            self.ffi.offsetof(name, *[self.pick(FIELDS + [0, 1, -1])
                                      for _ in range(self.fdp.ConsumeIntInRange(0, 3))])
        elif which == 3:
            t = self.ffi.typeof(name)
            (t.kind, t.cname, self.ffi.getctype(t, self.pick(["", "*", "[5]", "(*)(int)"])))
        else:
            self.ffi.typeof(self.value())

    def op_release(self):
        p, _ = self.owned()
        if self.fdp.ConsumeBool():
            self.ffi.release(p)  # later operations must refuse it
        else:
            with p:
                pass

    def op_handle(self):
        if self.fdp.ConsumeBool():
            obj = self.value()
            h = self.ffi.new_handle(obj)
            assert self.ffi.from_handle(h) is obj
            self.pool.append((h, 0))
        else:
            self.ffi.from_handle(self.ffi.cast("void *", self.int_value()))

    def op_callback(self):
        result = self.value()
        signature = self.pick(["int(int)", "double(int)", "char *(int)", "struct fz_pt(int)",
                               "void(int)", "_Bool(int)", "enum fz_col(int)"])
        raises = self.fdp.ConsumeBool()

        def callee(x):
            if raises:
                raise KeyError(x)
            return result

        error = self.value() if self.fdp.ConsumeBool() else None
        cb = self.ffi.callback(signature, callee, error) if error is not None else \
            self.ffi.callback(signature, callee)
        cb(self.int_value())

    def op_call(self):
        f = self.pick([self.lib.labs, self.lib.abs])
        f(*[self.value() for _ in range(self.fdp.ConsumeIntInRange(0, 2))])

    def op_raw_type(self):
        which = self.fdp.ConsumeIntInRange(0, 3)
        if which == 0:
            raw.Type(self.pick(RAW_TYPES + [self.type_name()]))
        elif which == 1:
            raw.c_type(self.type_name())
        else:
            fields = []
            for _ in range(self.fdp.ConsumeIntInRange(0, 4)):
                item = self.pick(RAW_TYPES)
                if self.fdp.ConsumeBool():
                    length = self.int_value()
                    if KNOWN_DEFECTS["huge-raw-arrays"] and not (-2 <= length <= 1 << 16):
                        length = 2
                    item = raw.Array(item, length)
                fields.append(item)
            t = raw.Struct(fields)
            (t.size, t.alignment, t.offsets, t.name)

    def op_raw_memory(self):
        if not self.raw_pool or self.fdp.ConsumeIntInRange(0, 3) == 0:
            size = self.pick([0, 1, 8, 64, -1, 2**62, self.fdp.ConsumeIntInRange(0, 256)])
            self.raw_pool.append(raw.Memory(size, self.pick([1, 2, 8, 16, 3, 0, 4096])))
            return
        mem = self.pick(self.raw_pool)
        which = self.fdp.ConsumeIntInRange(0, 5)
        t = self.pick(RAW_TYPES)
        if which == 0:
            mem.read(t, self.int_value())
        elif which == 1:
            mem.write(t, self.int_value(), self.value())
        elif which == 2:
            mem.read_bytes(self.int_value(), self.int_value())
        elif which == 3:
            mem.write_bytes(self.int_value(), self.fdp.ConsumeBytes(8))
        elif which == 4:
            raw.peek(t, mem) if len(mem) >= 16 else mem.free()
        else:
            bytes(mem)

    def op_raw_call(self):
        libc = raw.Library(None)
        which = self.fdp.ConsumeIntInRange(0, 2)
        if which == 0:
            f = raw.Function(libc.symbol("labs"), ["i64"], "i64")
        elif which == 1:
            # Made with any types, but called only with its own signature:
            # a wrong one is undefined behaviour, as in C.
            argtype, restype = self.pick(RAW_TYPES), self.pick(RAW_TYPES)
            f = raw.Function(libc.symbol(self.pick(["abs", "nosuch_fz", "", "labs\0"])),
                             [argtype], restype)
            if (argtype, restype, f.name) != ("i32", "i32", "abs"):
                return
        else:
            result = self.value()
            cb = raw.Callback(lambda *a: result, ["i32"], self.pick(RAW_TYPES),
                              default=self.value() if self.fdp.ConsumeBool() else None)
            f = raw.Function(cb, ["i32"], cb.restype)
        f(*[self.value() for _ in range(self.fdp.ConsumeIntInRange(0, 2))])

    OPERATIONS = [op_new, op_cdef, op_new, op_cast, op_item, op_item, op_slice, op_member,
                  op_arithmetic, op_bytes, op_sizes, op_release, op_handle, op_callback,
                  op_call, op_raw_type, op_raw_memory, op_raw_memory, op_raw_call]

    def run(self):
        for _ in range(self.fdp.ConsumeIntInRange(1, 12)):
            if not self.fdp.remaining_bytes():
                break  # past the input, every choice would be the first one
            op = self.pick(self.OPERATIONS)
            try:
                op(self)
            except ORDINARY:
                pass


def test_one_input(data):
    sys.unraisablehook = lambda unraisable: None  # callbacks' errors: expected
    Program(data).run()


def main():
    # Coverage of this file's own decisions and ffi_py's Python parts guides
    # the fuzzer (the native code is not instrumented: that would take an
    # instrumented build of the extension and of everything it links).
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
