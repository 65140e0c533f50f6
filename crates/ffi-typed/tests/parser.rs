//! The declaration parser: every construct, every error (with line:column
//! and caret), accumulation across parses, opaque-then-complete, override,
//! layouts of parsed structs against gcc, and robustness on arbitrary input.

use std::process::Command;

use ffi_raw::CScalar;
use ffi_typed::parser::{ConstantKind, Declarations, NameKind, ParseError, ParseOptions, TagKind};
use ffi_typed::{
    BitField, CType, Error, ExternPython, FunctionType, Missing, Packing, Placeholder, RecordKind,
};
use proptest::prelude::*;

// ---- helpers ----

fn parse(src: &str) -> Declarations {
    let mut d = Declarations::new();
    d.parse(src)
        .unwrap_or_else(|e| panic!("parse failed:\n{e}\nsource:\n{src}"));
    d
}

fn parse_err(src: &str) -> ParseError {
    match Declarations::new().parse(src) {
        Ok(()) => panic!("expected an error for:\n{src}"),
        Err(e) => e,
    }
}

/// Asserts the error's position and message, and that the rendered error
/// shows that line with the caret under that column.
#[track_caller]
fn assert_error(err: &ParseError, line: usize, column: usize, message: &str) {
    assert_eq!(
        (err.line, err.column, err.message.as_str()),
        (line, column, message),
        "full error:\n{err}"
    );
    let rendered = err.to_string();
    let mut lines = rendered.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("line {line}:{column}: {message}")
    );
    let shown = lines.next().unwrap_or("");
    let caret = lines.next().unwrap();
    if err.source_line.chars().count() <= 160 {
        assert_eq!(shown, err.source_line);
        assert_eq!(caret, format!("{}^", " ".repeat(column - 1)));
    } else {
        // A window of the line: the caret is under the same character.
        assert_eq!(caret.trim_start(), "^");
        assert_eq!(
            shown.chars().nth(caret.len() - 1),
            err.source_line.chars().nth(column - 1),
            "{rendered}"
        );
    }
}

#[track_caller]
fn check_error(src: &str, line: usize, column: usize, message: &str) {
    assert_error(&parse_err(src), line, column, message);
}

fn scalar(s: CScalar) -> CType {
    CType::Scalar(s)
}

fn ptr(t: CType) -> CType {
    CType::pointer_to(t)
}

fn func(d: &Declarations, name: &str) -> FunctionType {
    (*d.function(name)
        .unwrap_or_else(|| panic!("no function {name}")))
    .clone()
}

fn record_fields(ty: &CType) -> Vec<(Option<String>, usize, Option<BitField>)> {
    let CType::Record(r) = ty else {
        panic!("{ty} is not a record")
    };
    r.body()
        .unwrap_or_else(|| panic!("{ty} is incomplete"))
        .fields
        .iter()
        .map(|f| (f.name.clone(), f.offset, f.bits))
        .collect()
}

fn is_complete(ty: &CType) -> bool {
    matches!(ty, CType::Record(r) if r.body().is_some())
}

// ---- types and declarations ----

#[test]
fn every_integer_spelling() {
    use CScalar::*;
    let cases: &[(&str, CScalar)] = &[
        ("char", Char),
        ("signed char", SChar),
        ("char signed", SChar),
        ("unsigned char", UChar),
        ("short", Short),
        ("short int", Short),
        ("signed short int", Short),
        ("short unsigned", UShort),
        ("unsigned short int", UShort),
        ("int", Int),
        ("signed", Int),
        ("signed int", Int),
        ("unsigned", UInt),
        ("unsigned int", UInt),
        ("int unsigned", UInt),
        ("long", Long),
        ("long int", Long),
        ("signed long", Long),
        ("int long signed", Long),
        ("unsigned long", ULong),
        ("long unsigned int", ULong),
        ("long long", LongLong),
        ("long long int", LongLong),
        ("long int long", LongLong),
        ("signed long long", LongLong),
        ("unsigned long long", ULongLong),
        ("unsigned long long int", ULongLong),
        ("long long unsigned int", ULongLong),
        ("float", Float),
        ("double", Double),
        ("long double", LongDouble),
        ("double long", LongDouble),
        ("_Bool", Bool),
        ("bool", Bool),
        ("int8_t", Int8),
        ("uint8_t", UInt8),
        ("int16_t", Int16),
        ("uint16_t", UInt16),
        ("int32_t", Int32),
        ("uint32_t", UInt32),
        ("int64_t", Int64),
        ("uint64_t", UInt64),
        ("size_t", SizeT),
        ("ssize_t", SSizeT),
        ("intptr_t", IntPtr),
        ("uintptr_t", UIntPtr),
        ("ptrdiff_t", PtrDiff),
        ("wchar_t", WChar),
        ("char16_t", Char16),
        ("char32_t", Char32),
        ("const volatile unsigned", UInt),
        ("__signed__ char", SChar),
    ];
    let mut src = String::new();
    for (i, (spelling, _)) in cases.iter().enumerate() {
        src.push_str(&format!("typedef {spelling} t{i};\n{spelling} v{i};\n"));
    }
    let d = parse(&src);
    for (i, (spelling, expected)) in cases.iter().enumerate() {
        let want = scalar(*expected);
        assert_eq!(
            d.typedef(&format!("t{i}")),
            Some(want.clone()),
            "{spelling}"
        );
        assert_eq!(
            d.variable(&format!("v{i}")),
            Some(want.clone()),
            "{spelling}"
        );
        assert_eq!(d.parse_type(spelling).unwrap(), want, "{spelling}");
    }
    assert_eq!(d.parse_type("void").unwrap(), CType::Void);
    // FILE is an opaque struct.
    let file = d.parse_type("FILE *").unwrap();
    let CType::Pointer(inner) = &file else {
        panic!()
    };
    assert!(matches!(&**inner, CType::Record(r) if r.body().is_none()));
}

#[test]
fn several_declarators_and_variables() {
    let d = parse(
        "int a, *b, c[3], **d, (*e)[4], *f[5]; extern const char *names[]; extern int counter;",
    );
    let int = scalar(CScalar::Int);
    assert_eq!(d.variable("a"), Some(int.clone()));
    assert_eq!(d.variable("b"), Some(ptr(int.clone())));
    assert_eq!(d.variable("c"), Some(CType::array_of(int.clone(), Some(3))));
    assert_eq!(d.variable("d"), Some(ptr(ptr(int.clone()))));
    assert_eq!(
        d.variable("e"),
        Some(ptr(CType::array_of(int.clone(), Some(4))))
    );
    assert_eq!(
        d.variable("f"),
        Some(CType::array_of(ptr(int.clone()), Some(5)))
    );
    assert_eq!(
        d.variable("names"),
        Some(CType::array_of(ptr(scalar(CScalar::Char)), None))
    );
    assert_eq!(d.variable("counter"), Some(int));
    assert_eq!(d.variable("nope"), None);
    assert_eq!(d.function("a"), None);
}

#[test]
fn typedefs_chain_and_qualifiers() {
    let d = parse(
        "typedef unsigned int uint;
         typedef uint *uint_p, uint_a[2];
         typedef const uint_p volatile * restrict uint_pp;
         typedef char * __restrict str;
         typedef void VOID;
         uint_a x;",
    );
    let uint = scalar(CScalar::UInt);
    assert_eq!(d.typedef("uint"), Some(uint.clone()));
    assert_eq!(d.typedef("uint_p"), Some(ptr(uint.clone())));
    assert_eq!(
        d.typedef("uint_a"),
        Some(CType::array_of(uint.clone(), Some(2)))
    );
    assert_eq!(d.typedef("uint_pp"), Some(ptr(ptr(uint.clone()))));
    assert_eq!(d.typedef("str"), Some(ptr(scalar(CScalar::Char))));
    assert_eq!(d.typedef("VOID"), Some(CType::Void));
    assert_eq!(d.variable("x"), Some(CType::array_of(uint, Some(2))));
    // A member or parameter may reuse a typedef's name.
    let d = parse("typedef int T; struct s { T T; }; void f(T T);");
    let s = d.tag(TagKind::Struct, "s").unwrap();
    assert_eq!(record_fields(&s)[0].0.as_deref(), Some("T"));
    assert_eq!(func(&d, "f").params, vec![scalar(CScalar::Int)]);
}

#[test]
fn structs_unions_nested_and_anonymous() {
    let d = parse(
        "struct point { int x, y; };
         typedef struct { struct point a, b; } segment;
         struct outer {
             struct inner { char c; short s; } in;
             union { int i; float f; };
             struct { char lo, hi; };
             union num { long l; double d; } n;
             int tail;
         };
         union u { char c[5]; int i; };",
    );
    let point = d.tag(TagKind::Struct, "point").unwrap();
    assert_eq!((point.size().unwrap(), point.align().unwrap()), (8, 4));
    let segment = d.typedef("segment").unwrap();
    assert_eq!(segment.size().unwrap(), 16);
    let CType::Record(seg) = &segment else {
        panic!()
    };
    assert_eq!(seg.name(), None);
    // Nested definitions are declared at file scope, as in C.
    assert!(d.tag(TagKind::Struct, "inner").is_some());
    assert!(d.tag(TagKind::Union, "num").is_some());
    let outer = d.tag(TagKind::Struct, "outer").unwrap();
    let CType::Record(r) = &outer else { panic!() };
    let body = r.body().unwrap();
    let names: Vec<Option<&str>> = body.fields.iter().map(|f| f.name.as_deref()).collect();
    assert_eq!(names, vec![Some("in"), None, None, Some("n"), Some("tail")]);
    assert_eq!(body.field("i").unwrap().0, 4);
    assert_eq!(body.field("f").unwrap().0, 4);
    assert_eq!(body.field("lo").unwrap().0, 8);
    assert_eq!(body.field("hi").unwrap().0, 9);
    assert_eq!(body.field("n").unwrap().0, 16);
    assert_eq!(body.field("tail").unwrap().0, 24);
    assert_eq!(outer.size().unwrap(), 32);
    let u = d.tag(TagKind::Union, "u").unwrap();
    assert_eq!((u.size().unwrap(), u.align().unwrap()), (8, 4));
    assert_eq!(d.tag(TagKind::Union, "point"), None);
    assert_eq!(d.tag(TagKind::Enum, "point"), None);
}

#[test]
fn bitfields_and_flexible_arrays() {
    let d = parse(
        "struct flags { unsigned a : 3, b : 5; int : 0; unsigned char c : 1; int : 4; _Bool d : 1; };
         struct msg { int len; char data[]; };
         struct dmsg { char n; double vals[]; };",
    );
    let flags = d.tag(TagKind::Struct, "flags").unwrap();
    let fields = record_fields(&flags);
    let bits = |width, shift| Some(BitField { width, shift });
    assert_eq!(
        fields,
        vec![
            (Some("a".into()), 0, bits(3, 0)),
            (Some("b".into()), 0, bits(5, 3)),
            (Some("c".into()), 4, bits(1, 0)),
            (None, 4, bits(4, 1)),
            (Some("d".into()), 4, bits(1, 5)),
        ]
    );
    assert_eq!(flags.size().unwrap(), 8);
    let msg = d.tag(TagKind::Struct, "msg").unwrap();
    assert_eq!(msg.size().unwrap(), 4);
    assert_eq!(record_fields(&msg)[1].1, 4);
    let dmsg = d.tag(TagKind::Struct, "dmsg").unwrap();
    assert_eq!((dmsg.size().unwrap(), record_fields(&dmsg)[1].1), (8, 8));
    // Bitfield widths are constant expressions; enums may be bitfields.
    let d = parse(
        "#define W 2\nenum e { E0, E1 }; struct s { unsigned x : W * 3 + 1; enum e k : W; };",
    );
    let s = d.tag(TagKind::Struct, "s").unwrap();
    assert_eq!(
        record_fields(&s),
        vec![
            (Some("x".into()), 0, bits(7, 0)),
            (Some("k".into()), 0, bits(2, 7)),
        ]
    );
}

#[test]
fn opaque_then_complete_in_the_same_and_a_later_parse() {
    let mut d = Declarations::new();
    d.parse(
        "struct a; typedef struct a a_t; a_t *make_a(void);
         struct b; struct b { int x; struct b *next; };",
    )
    .unwrap();
    let b = d.tag(TagKind::Struct, "b").unwrap();
    assert_eq!(b.size().unwrap(), 16);
    let a_t = d.typedef("a_t").unwrap();
    assert!(a_t.size().is_err());
    let made_before = d.parse_type("struct a *").unwrap();
    d.parse("struct a { double d; char c; };").unwrap();
    // Types made before the definition see it: one identity per tag.
    assert_eq!(a_t.size().unwrap(), 16);
    let CType::Pointer(pointee) = &made_before else {
        panic!()
    };
    assert_eq!(pointee.size().unwrap(), 16);
    assert_eq!(func(&d, "make_a").ret, ptr(a_t.clone()));
    assert!(is_complete(&d.tag(TagKind::Struct, "a").unwrap()));
    // A struct mentioned in a parameter list or a pointer declares the tag.
    d.parse("void use(struct later *); struct later *global_later;")
        .unwrap();
    assert!(!is_complete(&d.tag(TagKind::Struct, "later").unwrap()));
    d.parse("struct later { int z; };").unwrap();
    let CType::Pointer(p) = d.variable("global_later").unwrap() else {
        panic!()
    };
    assert_eq!(p.size().unwrap(), 4);
}

#[test]
fn enums() {
    let d = parse(
        "#define BASE 10
         enum color { RED, GREEN, BLUE = BASE * 2, CYAN, MAGENTA = -3, YELLOW, };
         enum { ANON_A = 'a', ANON_B = ANON_A + GREEN, ANON_C = sizeof(int) << 2 };
         enum big { HUGE = 0xffffffffff };
         enum neg { N = -1 };
         typedef enum { T0 = 1 << 3, T1 = T0 | 1 } flags_t;
         enum color paint(enum color c);",
    );
    let values: Vec<(&str, i128)> = vec![
        ("RED", 0),
        ("GREEN", 1),
        ("BLUE", 20),
        ("CYAN", 21),
        ("MAGENTA", -3),
        ("YELLOW", -2),
        ("ANON_A", 97),
        ("ANON_B", 98),
        ("ANON_C", 16),
        ("HUGE", 0xff_ffff_ffff),
        ("N", -1),
        ("T0", 8),
        ("T1", 9),
    ];
    for (name, value) in &values {
        assert_eq!(d.constant(name), Some(*value), "{name}");
    }
    let color = d.tag(TagKind::Enum, "color").unwrap();
    let CType::Enum(e) = &color else { panic!() };
    assert_eq!(e.underlying, CScalar::Int);
    assert_eq!(e.values.len(), 6);
    let CType::Enum(big) = d.tag(TagKind::Enum, "big").unwrap() else {
        panic!()
    };
    assert_eq!(
        (big.underlying, big.values[0].1),
        (CScalar::ULong, 0xff_ffff_ffff)
    );
    let CType::Enum(neg) = d.tag(TagKind::Enum, "neg").unwrap() else {
        panic!()
    };
    assert_eq!(neg.underlying, CScalar::Int);
    assert_eq!(func(&d, "paint").ret, color);
    assert_eq!(d.typedef("flags_t").unwrap().size().unwrap(), 4);
    let kinds: Vec<(&str, ConstantKind)> = d.constants().map(|(n, _, k)| (n, k)).collect();
    assert_eq!(kinds[0], ("BASE", ConstantKind::Define));
    assert_eq!(kinds[1], ("RED", ConstantKind::Enumerator));
}

#[test]
fn struct_union_and_enum_tags_are_apart() {
    // As in cffi (C has one namespace for all three).
    let mut d = parse(
        "struct foo { int a; short b, c, d; };
         union foo { int a; short b, c, d; };
         enum foo { FOO };
         int f(struct foo *, union foo *, enum foo);",
    );
    let s = d.tag(TagKind::Struct, "foo").unwrap();
    let u = d.tag(TagKind::Union, "foo").unwrap();
    assert_eq!((s.size().unwrap(), u.size().unwrap()), (12, 4));
    assert_ne!(s, u);
    assert_eq!(d.parse_type("union foo").unwrap(), u);
    assert_eq!(func(&d, "f").params[..2], [ptr(s.clone()), ptr(u.clone())]);
    let tags: Vec<(TagKind, &str)> = d.tag_names().collect();
    assert_eq!(
        tags,
        [
            (TagKind::Struct, "foo"),
            (TagKind::Union, "foo"),
            (TagKind::Enum, "foo")
        ]
    );
    // An opaque union beside a complete struct, completed later.
    d.parse("struct bar { int x; }; union bar; union bar *ub;")
        .unwrap();
    assert!(!is_complete(&d.tag(TagKind::Union, "bar").unwrap()));
    d.parse("union bar { char c; double d; };").unwrap();
    assert_eq!(d.tag(TagKind::Union, "bar").unwrap().size().unwrap(), 8);
    assert_eq!(d.tag(TagKind::Struct, "bar").unwrap().size().unwrap(), 4);
    // include() keeps them apart too.
    let mut other = parse("struct baz { int x; };");
    other.include(&d).unwrap();
    assert_eq!(other.tag(TagKind::Union, "foo"), Some(u));
    assert_eq!(other.tag(TagKind::Struct, "foo"), Some(s));
    assert!(other.tag(TagKind::Union, "baz").is_none());
    // A failed parse takes back every kind it declared.
    assert!(
        d.parse("struct baz; union baz; enum baz; int oops(;")
            .is_err()
    );
    assert!(d.tag_names().all(|(_, name)| name != "baz"));
}

#[test]
fn array_parameters_of_structs_completed_later() {
    // An array parameter is a pointer, so its element may be incomplete
    // where it is declared (cffi's test_ordering_bug2).
    let d = parse(
        "struct bar_s;
         struct foo_s { void (*foo)(struct bar_s[]); };
         struct bar_s { struct foo_s foo; };
         int g(struct later x[4], struct later *const y[]);",
    );
    let bar = d.tag(TagKind::Struct, "bar_s").unwrap();
    assert_eq!(bar.size().unwrap(), 8);
    let foo = d.tag(TagKind::Struct, "foo_s").unwrap();
    let CType::Record(r) = &foo else { panic!() };
    assert_eq!(
        r.body().unwrap().fields[0].ty.to_string(),
        "void(*)(struct bar_s *)"
    );
    let later = d.tag(TagKind::Struct, "later").unwrap();
    assert_eq!(func(&d, "g").params, [ptr(later.clone()), ptr(ptr(later))]);
}

#[test]
fn initialized_declarations_are_constants() {
    // As cffi reads them: an integer type makes an integer constant, any
    // other type a constant whose value is not known (nor a variable).
    let mut d = parse(
        "#define BASE 40
         static const int x = BASE + 2, y = -1;
         const unsigned char wraps = 300;
         long plain = 1L << 40;
         static const _Bool yes = 7;
         enum e { E0 }; static const enum e e1 = 1;
         static const float baz = 42.5;
         static const char sep = ',', *const name = \"n\";
         static const int table[] = { 1, (2), [2] = 3 };
         static const struct { int a; } s = { .a = f(1, 2) };
         int after(int);
         int sized[x];",
    );
    let values = [
        ("x", 42),
        ("y", -1),
        ("wraps", 44),
        ("plain", 1 << 40),
        ("yes", 1),
        ("e1", 1),
    ];
    for (name, value) in values {
        assert_eq!(d.constant(name), Some(value), "{name}");
        assert_eq!(d.variable(name), None, "{name}");
    }
    let kinds: Vec<(&str, ConstantKind)> = d.constants().map(|(n, _, k)| (n, k)).collect();
    assert_eq!(kinds[1], ("x", ConstantKind::Initializer));
    for (name, ty) in [
        ("baz", "float"),
        ("sep", "char"),
        ("name", "char *"),
        ("table", "int[]"),
        ("s", "struct $anonymous"),
    ] {
        assert_eq!(d.opaque_constant(name).unwrap().to_string(), ty, "{name}");
        assert_eq!((d.constant(name), d.variable(name)), (None, None), "{name}");
    }
    let opaque: Vec<&str> = d
        .names()
        .filter(|(k, _)| *k == NameKind::OpaqueConstant)
        .map(|(_, n)| n)
        .collect();
    assert_eq!(opaque, ["baz", "sep", "name", "table", "s"]);
    assert_eq!(d.variable("sized").unwrap().size().unwrap(), 168);
    assert!(d.function("after").is_some());
    // The same again is fine; a different value or kind is a redefinition.
    d.parse("static const int x = 42; static const float baz = 1.0;")
        .unwrap();
    for again in [
        "static const int x = 43;",
        "static const double baz = 1;",
        "int baz;",
    ] {
        assert!(d.parse(again).unwrap_err().redefinition, "{again}");
    }
    let e = d.parse("#define Z baz").unwrap_err();
    assert!(e.message.contains("'baz' is a non-integer constant"), "{e}");
    // include() takes the integer constants, as cffi does.
    let mut other = Declarations::new();
    other.include(&d).unwrap();
    assert_eq!(
        (other.constant("x"), other.opaque_constant("baz")),
        (Some(42), None)
    );
}

#[test]
fn partial_enums() {
    // cffi's `...` at the end of an enum: more enumerators exist, known
    // only to the compiler.
    let mut d = parse(
        "enum foo { A, B = A + 2, ... }; enum bar { C, D };
         enum { ANON, ... }; enum only { ... };",
    );
    let CType::Enum(foo) = d.tag(TagKind::Enum, "foo").unwrap() else {
        panic!()
    };
    assert!(foo.partial && !foo.is_opaque());
    assert_eq!(foo.values, [("A".into(), 0), ("B".into(), 2)]);
    let CType::Enum(only) = d.tag(TagKind::Enum, "only").unwrap() else {
        panic!()
    };
    assert!(only.partial && only.values.is_empty() && !only.is_opaque());
    let CType::Enum(bar) = d.tag(TagKind::Enum, "bar").unwrap() else {
        panic!()
    };
    assert!(!bar.partial);
    let kind = |name| (d.constant(name), d.constant_kind(name));
    assert_eq!(kind("A"), (Some(0), Some(ConstantKind::PartialEnumerator)));
    assert_eq!(kind("B"), (Some(2), Some(ConstantKind::PartialEnumerator)));
    assert_eq!(
        kind("ANON"),
        (Some(0), Some(ConstantKind::PartialEnumerator))
    );
    assert_eq!(kind("C"), (Some(0), Some(ConstantKind::Enumerator)));
    // The same again is fine; with or without `...` it is another enum.
    d.parse("enum foo { A, B = A + 2, ... };").unwrap();
    assert_eq!(d.constant_kind("B"), Some(ConstantKind::PartialEnumerator));
    let e = d.parse("enum foo { A, B = 2 };").unwrap_err();
    assert!(e.redefinition, "{e}");
    let e = d.parse("enum bar { C, D, ... };").unwrap_err();
    assert!(e.redefinition, "{e}");
    // A failed parse takes the change of kind back.
    assert!(d.parse("enum baz { Z, ... }; int oops(;").is_err());
    assert_eq!(d.constant_kind("Z"), None);
}

/// `matches!` on the fact a type is missing, with the type's spelling.
#[track_caller]
fn assert_missing(ty: &CType, expected: &str) {
    let missing = ty
        .missing()
        .unwrap_or_else(|| panic!("{ty}: nothing is missing"));
    let kind = match missing {
        Missing::Layout(_) => "layout",
        Missing::Length(_) => "length",
        Missing::Integer(_) => "integer",
        Missing::Float(_) => "float",
        Missing::Enumerators(_) => "enumerators",
        _ => "other",
    };
    assert_eq!(format!("{kind} {}", missing.ty()), expected, "for {ty}");
}

#[test]
fn typedef_placeholders() {
    // cffi's `typedef ... T;`: an opaque struct spelt `T`; `typedef ... *T`
    // a pointer to one.
    let d = parse(
        "typedef ... handle_t; typedef ... *ref_t, conn_t;
         handle_t *open(const char *); typedef struct { handle_t *h; int n; } holder_t;",
    );
    let handle = d.typedef("handle_t").unwrap();
    let CType::Record(r) = &handle else {
        panic!("{handle:?}")
    };
    assert!(r.body().is_none() && r.name().is_none());
    assert_eq!(handle.to_string(), "handle_t");
    assert!(matches!(handle.size(), Err(Error::Incomplete(_))));
    assert_eq!(handle.missing(), None);
    assert_eq!(func(&d, "open").ret.to_string(), "handle_t *");
    assert_eq!(d.typedef("holder_t").unwrap().size().unwrap(), 16);
    let reference = d.typedef("ref_t").unwrap();
    assert_eq!(reference.to_string(), "struct $$ref_t *");
    assert_eq!(reference.size().unwrap(), 8);
    // Each is a type of its own.
    assert_ne!(d.typedef("conn_t").unwrap(), handle);
    assert_eq!(d.name_kind("handle_t"), Some(NameKind::Typedef));
    // Another `typedef ... T;` is another type: a redefinition, as in cffi.
    let mut again = parse("typedef ... T;");
    assert!(again.parse("typedef ... T;").unwrap_err().redefinition);

    // cffi's `typedef int... T;`: an integer type of unknown size.
    let d = parse(
        "typedef int... id_t; typedef unsigned long... big_t; typedef char... c_t;
         typedef signed short... s_t; typedef const long long... ll_t;
         typedef float... real_t; typedef double... wide_t; id_t next(id_t);",
    );
    let id = d.typedef("id_t").unwrap();
    assert_eq!(id.to_string(), "id_t");
    assert_eq!(
        id,
        CType::Placeholder(Placeholder::Integer("id_t".into()).into())
    );
    assert!(id.is_integer() && !d.typedef("real_t").unwrap().is_integer());
    assert!(matches!(
        id.size(),
        Err(Error::Missing(Missing::Integer(_)))
    ));
    assert!(id.align().is_err() && id.to_raw().is_err());
    for (name, kind) in [
        ("big_t", "integer"),
        ("c_t", "integer"),
        ("s_t", "integer"),
        ("ll_t", "integer"),
        ("real_t", "float"),
        ("wide_t", "float"),
    ] {
        assert_missing(&d.typedef(name).unwrap(), &format!("{kind} {name}"));
    }
    assert_eq!(
        d.function("next").unwrap().missing(),
        Some(Missing::Integer(id.clone()))
    );
    assert_missing(&d.parse_type("id_t **").unwrap(), "integer id_t");
    // Declaring it again is the same declaration.
    let mut d = d;
    d.parse("typedef int... id_t;").unwrap();

    for (src, line, column, message) in [
        (
            "int... v;",
            1,
            4,
            "cffi's '...' as a type is only allowed in a typedef ('typedef ... T;', 'typedef int... T;', 'typedef float... T;')",
        ),
        (
            "typedef int... *p_t;",
            1,
            16,
            "'typedef int... T' declares an integer type, not a pointer",
        ),
        (
            "typedef long double... ld_t;",
            1,
            20,
            "'...' after a type: only integer types ('int...') and 'float...' or 'double...' are allowed",
        ),
        ("typedef ... T[3];", 1, 14, "expected ';' after declaration"),
        (
            "typedef ...;",
            1,
            12,
            "expected the typedef's name after '...'",
        ),
        (
            "void f(int...);",
            1,
            11,
            "expected ',' or ')' in parameter list",
        ),
        (
            "struct s { int... a; };",
            1,
            15,
            "expected identifier or '('",
        ),
        (
            "typedef size_t... z_t;",
            1,
            15,
            "expected identifier or '('",
        ),
    ] {
        check_error(src, line, column, message);
    }
}

#[test]
fn partial_records() {
    // cffi's `...;` among the members: more members, a layout only the
    // compiler knows.
    let d = parse(
        "struct s { int a; ...; char *name; };
         typedef struct { ...; double x; } anon_t;
         union u { int i; ...; };
         struct inner { int a; ...; };
         struct outer { struct inner in; int b; };
         struct holds_ptr { struct inner *p; int b; };
         struct arr { int n; int data[...]; };
         struct bits { unsigned flag : 1; ...; };
         union holds_inner { struct inner x; int y; };
         struct holds_u { union u x; };
         struct holds_inners { struct inner xs[2]; };
         struct s *find(const char *);",
    );
    let s = d.tag(TagKind::Struct, "s").unwrap();
    let CType::Record(r) = &s else { panic!() };
    let body = r.body().unwrap();
    assert!(body.partial && !body.layout_known());
    let names: Vec<_> = body
        .fields
        .iter()
        .map(|f| f.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["a", "name"]);
    assert_eq!(body.field("name").unwrap().1.ty.to_string(), "char *");
    assert!(matches!(s.size(), Err(Error::Missing(Missing::Layout(ref t))) if *t == s));
    assert!(s.align().is_err() && s.to_raw().is_err());
    assert_missing(&s, "layout struct s");
    assert_missing(&d.typedef("anon_t").unwrap(), "layout anon_t");
    assert_missing(&d.tag(TagKind::Union, "u").unwrap(), "layout union u");
    // A struct holding a partial struct by value is partial too (as in
    // cffi); through a pointer it is laid out, but still leads to it.
    assert_missing(
        &d.tag(TagKind::Struct, "outer").unwrap(),
        "layout struct outer",
    );
    let holds = d.tag(TagKind::Struct, "holds_ptr").unwrap();
    assert_eq!(holds.size().unwrap(), 16);
    assert_missing(&holds, "layout struct inner");
    // A member declared `[...]` makes the struct partial (as in cffi).
    let arr = d.tag(TagKind::Struct, "arr").unwrap();
    assert_missing(&arr, "layout struct arr");
    let CType::Record(arr) = &arr else { panic!() };
    assert_eq!(arr.body().unwrap().fields[1].ty.to_string(), "int[...]");
    assert_missing(
        &d.tag(TagKind::Struct, "bits").unwrap(),
        "layout struct bits",
    );
    // As in cffi, a record holding a partial struct is partial; one holding
    // a partial union, or an array of partial structs, has no layout
    // because of its member.
    assert_missing(
        &d.tag(TagKind::Union, "holds_inner").unwrap(),
        "layout union holds_inner",
    );
    assert_missing(
        &d.tag(TagKind::Struct, "holds_u").unwrap(),
        "layout union u",
    );
    assert_missing(
        &d.tag(TagKind::Struct, "holds_inners").unwrap(),
        "layout struct inner",
    );
    assert_missing(
        &CType::Function(d.function("find").unwrap()),
        "layout struct s",
    );
    assert_missing(
        &d.parse_type("struct s *(*)[2]").unwrap(),
        "layout struct s",
    );

    // The same again is fine; without `...` it is another struct.
    let mut d = d;
    d.parse("struct s { int a; ...; char *name; };").unwrap();
    assert!(
        d.parse("struct s { int a; char *name; };")
            .unwrap_err()
            .redefinition
    );
    assert!(
        d.parse("struct s { int a; ...; };")
            .unwrap_err()
            .redefinition
    );
    check_error(
        "struct t { int a; ... };",
        1,
        23,
        "expected ';' after '...' in a struct or union",
    );
    check_error(
        "struct t { int a; ... b; };",
        1,
        23,
        "expected ';' after '...' in a struct or union",
    );
}

#[test]
fn partial_definition_of_an_opaque_struct() {
    // Declared opaque by one parse, partial by a later one: types made
    // before keep the opaque record (they may be in use without a
    // layout); the tag now names the partial one.
    let mut d = parse("struct s; typedef struct s *sp_t;");
    d.parse("struct s { int a; ...; };").unwrap();
    let CType::Pointer(before) = d.typedef("sp_t").unwrap() else {
        panic!()
    };
    assert!(matches!(&*before, CType::Record(r) if r.body().is_none()));
    assert_missing(&d.tag(TagKind::Struct, "s").unwrap(), "layout struct s");
    // Within one parse the opaque record itself is completed.
    let d = parse("struct t; typedef struct t *tp_t; struct t { int a; ...; };");
    assert_missing(&d.typedef("tp_t").unwrap(), "layout struct t");
}

#[test]
fn placeholder_array_lengths() {
    let d = parse(
        "extern int table[...]; int grid[...][4]; int cube[2][...];
         char *names[...]; typedef int row_t[...]; row_t rows[2];
         struct holds_row { row_t r; int n; };
         void take(row_t);",
    );
    let table = d.variable("table").unwrap();
    assert_eq!(table.to_string(), "int[...]");
    assert_eq!(
        table,
        CType::Placeholder(Placeholder::Array(scalar(CScalar::Int)).into())
    );
    assert!(matches!(
        table.size(),
        Err(Error::Missing(Missing::Length(_)))
    ));
    assert_eq!(table.align().unwrap(), 4);
    assert_missing(&table, "length int[...]");
    assert_missing(&d.variable("grid").unwrap(), "length int[...][4]");
    assert_missing(&d.variable("cube").unwrap(), "length int[...]");
    assert_eq!(d.variable("cube").unwrap().to_string(), "int[2][...]");
    assert_missing(&d.variable("names").unwrap(), "length char *[...]");
    // (Types are spelt without their typedefs' names.)
    assert_missing(&d.variable("rows").unwrap(), "length int[...]");
    // Through a typedef the struct is not partial, but its layout is still
    // unknown, and the missing fact is the array's length (as in cffi).
    let holds = d.tag(TagKind::Struct, "holds_row").unwrap();
    let CType::Record(r) = &holds else { panic!() };
    assert!(!r.body().unwrap().partial && !r.body().unwrap().layout_known());
    assert!(matches!(
        holds.size(),
        Err(Error::Missing(Missing::Length(_)))
    ));
    assert_missing(&holds, "length int[...]");
    // As a parameter it is a pointer, as any array.
    assert_eq!(func(&d, "take").params[0].to_string(), "int *");

    for (src, column) in [
        ("int (*p)[...];", 9),
        ("void f(int a[...]);", 13),
        ("int (*f(void))[...];", 15),
        ("struct s { int *(*p)[...]; };", 21),
    ] {
        let e = parse_err(src);
        assert_eq!(e.column, column, "{src}: {e}");
        assert!(e.message.contains("'[...]'"), "{src}: {e}");
    }
    let e = Declarations::new().parse_type("int[...]").unwrap_err();
    assert!(e.message.contains("'[...]'"), "{e}");
    check_error("int a[...;", 1, 10, "expected ']' after '...'");
}

#[test]
fn unknown_defines() {
    let mut d = parse("#define MAJOR ...\n#define MINOR  ...  /* later */\n#define N 3");
    assert_eq!(d.name_kind("MAJOR"), Some(NameKind::UnknownConstant));
    assert_eq!(
        (d.constant("MAJOR"), d.constant_kind("MAJOR")),
        (None, None)
    );
    assert_eq!(d.name_kind("MINOR"), Some(NameKind::UnknownConstant));
    assert_eq!(d.constant("N"), Some(3));
    let names: Vec<_> = d.names().collect();
    assert_eq!(
        names,
        [
            (NameKind::UnknownConstant, "MAJOR"),
            (NameKind::UnknownConstant, "MINOR"),
            (NameKind::Constant, "N")
        ]
    );
    // The same again is fine; a value is another declaration.
    d.parse("#define MAJOR ...").unwrap();
    assert!(d.parse("#define MAJOR 8").unwrap_err().redefinition);
    let e = d.parse("int a[MAJOR];").unwrap_err();
    assert_eq!(
        e.message,
        "the value of 'MAJOR' is known only to the C compiler ('#define MAJOR ...')"
    );
    // `include` takes integer constants only, as cffi.
    let mut other = Declarations::new();
    other.include(&d).unwrap();
    assert_eq!(
        (other.name_kind("MAJOR"), other.constant("N")),
        (None, Some(3))
    );
    check_error(
        "#define V ...1",
        1,
        14,
        "unexpected '1' after '...' in macro 'V' ('#define NAME ...' leaves the whole value to the C compiler)",
    );
    check_error("#define V (...)", 1, 12, "cffi's '...' is not allowed here");
}

#[test]
fn extern_python() {
    let mut d = parse(
        r#"extern "Python" int on_event(int, void *);
           extern "Python+C" { void log_line(const char *); int count(void); };
           extern "C + Python" long both(long);
           extern "Python" static void quiet(void), loud(int);
           extern "Python" { typedef int event_t; }
           int on_event(int, void *);
           event_t last;"#,
    );
    let (f, kind) = d.extern_python("on_event").unwrap();
    assert_eq!(
        (CType::Function(f).to_string(), kind),
        ("int(int, void *)".to_string(), ExternPython::Python)
    );
    for name in ["log_line", "count", "both"] {
        assert_eq!(
            d.extern_python(name).unwrap().1,
            ExternPython::PythonPlusC,
            "{name}"
        );
    }
    assert_eq!(d.extern_python("loud").unwrap().1, ExternPython::Python);
    // Apart from the ordinary names, as in cffi: `on_event` is also an
    // ordinary function, `log_line` is not one.
    assert!(d.function("on_event").is_some() && d.function("log_line").is_none());
    assert_eq!(d.name_kind("log_line"), None);
    assert!(!d.names().any(|(_, n)| n == "count"));
    // A typedef in a block is an ordinary typedef.
    assert_eq!(d.typedef("event_t").unwrap(), scalar(CScalar::Int));
    let all: Vec<_> = d.extern_pythons().map(|(n, _, k)| (n, k)).collect();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0], ("on_event", ExternPython::Python));
    // The same again is fine; another signature is a redefinition.
    d.parse(r#"extern "Python" int on_event(int, void *);"#)
        .unwrap();
    let e = d
        .parse(r#"extern "Python" int on_event(long);"#)
        .unwrap_err();
    assert!(e.redefinition, "{e}");
    assert_eq!(
        e.message,
        "redefinition of extern \"Python\" function 'on_event'"
    );
    d.parse_with(
        r#"extern "Python" int on_event(long);"#,
        ParseOptions::default().with_override(true),
    )
    .unwrap();
    assert_eq!(
        func_params(&d.extern_python("on_event").unwrap().0),
        ["long"]
    );
    // A failed parse takes its extern "Python" names back.
    assert!(
        d.parse(r#"extern "Python" void gone(void); int oops(;"#)
            .is_err()
    );
    assert!(d.extern_python("gone").is_none());

    for (src, line, column, message) in [
        (
            r#"extern "Python" int counter;"#,
            1,
            21,
            "'counter': only functions can be declared extern \"Python\" (not variables or constants)",
        ),
        (
            r#"extern "Python" int (*cb)(int);"#,
            1,
            23,
            "'cb': only functions can be declared extern \"Python\" (not variables or constants)",
        ),
        (
            r#"extern "Python" static const int N = 3;"#,
            1,
            34,
            "'N': only functions can be declared extern \"Python\" (not variables or constants)",
        ),
        (
            r#"extern "C" int f(int);"#,
            1,
            8,
            "unsupported language linkage 'extern \"C\"' (only extern \"Python\" and extern \"Python+C\" are supported)",
        ),
        (
            r#"extern "Python" { extern "Python" int f(int); }"#,
            1,
            19,
            "extern \"Python\" blocks cannot be nested",
        ),
        (
            r#"extern "Python" { int f(int);"#,
            1,
            30,
            "expected '}' at the end of the extern \"Python\" block",
        ),
        (r#"extern "Python";"#, 1, 16, "expected a declaration"),
    ] {
        check_error(src, line, column, message);
    }
}

fn func_params(f: &FunctionType) -> Vec<String> {
    f.params.iter().map(|p| p.to_string()).collect()
}

#[test]
fn placeholders_inside_records_and_enums() {
    // Members whose size only the compiler knows: the record has no
    // layout, and the first missing fact is the member's.
    let d = parse(
        "typedef int... id_t; enum state { IDLE, ... };
         struct by_id { id_t id; int n; }; struct by_id_ptr { id_t *id; };
         struct by_state { enum state s; }; struct flex { int n; id_t ids[]; };
         struct bits { id_t small : 3; };",
    );
    for (tag, expected) in [
        ("by_id", "integer id_t"),
        ("by_id_ptr", "integer id_t"),
        ("by_state", "enumerators enum state"),
        ("flex", "integer id_t"),
        ("bits", "integer id_t"),
    ] {
        assert_missing(&d.tag(TagKind::Struct, tag).unwrap(), expected);
    }
    let by_id = d.tag(TagKind::Struct, "by_id").unwrap();
    assert!(matches!(
        by_id.size(),
        Err(Error::Missing(Missing::Integer(_)))
    ));
    assert_eq!(
        d.tag(TagKind::Struct, "by_id_ptr").unwrap().size().unwrap(),
        8
    );
    // An enum declared with `...` has no size either.
    let state = d.tag(TagKind::Enum, "state").unwrap();
    assert!(matches!(
        state.size(),
        Err(Error::Missing(Missing::Enumerators(_)))
    ));
    // Self-reference through pointers ends.
    let d = parse(
        "struct node { struct node *next; int v; ...; }; struct list { struct node *head; };",
    );
    assert_missing(
        &d.tag(TagKind::Struct, "list").unwrap(),
        "layout struct node",
    );
}

#[test]
fn missing_facts_are_found_after_later_completions() {
    // A walk that found nothing is remembered, until a record it went
    // through an opaque pointer to is completed with something missing.
    let mut d = parse("struct a; struct b { struct a *p; int n; };");
    let b = d.tag(TagKind::Struct, "b").unwrap();
    assert_eq!(b.missing(), None);
    assert_eq!(b.missing(), None);
    d.parse("typedef int... id_t; struct a { id_t x; };")
        .unwrap();
    assert_missing(&b, "integer id_t");
    // And through the type API.
    let opaque = CType::new_record(RecordKind::Struct, None);
    let holder = CType::new_record(RecordKind::Struct, None);
    holder
        .complete(
            vec![ffi_typed::FieldDecl::new("p", ptr(opaque.clone()))],
            Packing::Natural,
        )
        .unwrap();
    assert_eq!(holder.missing(), None);
    opaque
        .complete_partial(
            vec![ffi_typed::FieldDecl::new("a", scalar(CScalar::Int))],
            Packing::Natural,
        )
        .unwrap();
    assert_eq!(holder.missing(), Some(Missing::Layout(opaque)));
}

#[test]
fn missing_facts_in_cffi_order() {
    // cffi builds a type depth first, and completes a struct reached
    // through a pointer only after the rest: the first fact it misses is
    // where its ABI mode raises.
    let d = parse(
        "typedef int... id_t; struct part { int a; ...; };
         struct later { id_t id; };
         struct now { struct later *l; struct part p2; };
         typedef int f_t(struct later *, struct part);",
    );
    assert_missing(&d.tag(TagKind::Struct, "now").unwrap(), "layout struct now");
    let f = d.typedef("f_t").unwrap();
    assert_missing(&f, "layout struct part");
    assert_missing(&d.parse_type("struct later *").unwrap(), "integer id_t");
    assert_missing(
        &d.parse_type("id_t (*)(struct part *)").unwrap(),
        "integer id_t",
    );
}

#[test]
fn opaque_enums() {
    let mut d = parse("enum op; enum op *p; int take(enum later);");
    let CType::Enum(op) = d.tag(TagKind::Enum, "op").unwrap() else {
        panic!()
    };
    assert!(op.is_opaque());
    assert_eq!((op.underlying, op.values.len()), (CScalar::UInt, 0));
    assert_eq!(d.variable("p").unwrap(), ptr(CType::Enum(op.clone())));
    // Mentioned before any declaration: declared opaque, as by cffi.
    let CType::Enum(later) = d.tag(TagKind::Enum, "later").unwrap() else {
        panic!()
    };
    assert!(later.is_opaque());
    assert_eq!(d.parse_type("enum op[2]").unwrap().size().unwrap(), 8);
    // Declared again without values: the same enum.
    d.parse("enum op; enum op q;").unwrap();
    // Values cannot be added later (an enum's type depends on them), except
    // by overriding.
    let e = d.parse("enum op { A = -1 };").unwrap_err();
    assert!(
        e.redefinition && e.message.contains("without enumerators"),
        "{e}"
    );
    let replace = ParseOptions::default().with_override(true);
    d.parse_with("enum op { A = -1 };", replace).unwrap();
    let CType::Enum(op) = d.tag(TagKind::Enum, "op").unwrap() else {
        panic!()
    };
    assert!(!op.is_opaque() && op.underlying == CScalar::Int);
}

#[test]
fn function_prototypes() {
    let d = parse(
        "int printf(const char *fmt, ...);
         int getpid(void);
         int legacy();
         void unnamed(int, char *, double);
         void arrays(int a[], int m[2][3], const char *argv[]);
         void funcs(int cb(int), void (*ok)(void));
         typedef void VOID_T;
         int via_typedef(VOID_T);
         typedef int binop(int, int);
         binop add, sub;
         static inline int helper(int);
         extern double sqrt(double);",
    );
    let int = scalar(CScalar::Int);
    let char_p = ptr(scalar(CScalar::Char));
    let printf = func(&d, "printf");
    assert_eq!(
        (printf.ret.clone(), printf.params.clone(), printf.variadic),
        (int.clone(), vec![char_p.clone()], true)
    );
    for name in ["getpid", "legacy", "via_typedef"] {
        let f = func(&d, name);
        assert!(f.params.is_empty() && !f.variadic, "{name}");
    }
    assert_eq!(
        func(&d, "unnamed").params,
        vec![int.clone(), char_p.clone(), scalar(CScalar::Double)]
    );
    assert_eq!(
        func(&d, "arrays").params,
        vec![
            ptr(int.clone()),
            ptr(CType::array_of(int.clone(), Some(3))),
            ptr(char_p.clone())
        ]
    );
    let int_to_int = CType::Function(
        FunctionType {
            ret: int.clone(),
            params: vec![int.clone()],
            variadic: false,
        }
        .into(),
    );
    let void_void = CType::Function(
        FunctionType {
            ret: CType::Void,
            params: vec![],
            variadic: false,
        }
        .into(),
    );
    assert_eq!(
        func(&d, "funcs").params,
        vec![ptr(int_to_int.clone()), ptr(void_void)]
    );
    assert_eq!(func(&d, "add"), func(&d, "sub"));
    assert_eq!(func(&d, "add").params.len(), 2);
    assert!(d.function("helper").is_some());
    assert!(d.function("sqrt").is_some());
    assert_eq!(d.variable("add"), None);
}

#[test]
fn function_pointers_everywhere() {
    let d = parse(
        "typedef int (*cb_t)(int, void *);
         struct ops { int (*open)(const char *, int); void (*close)(int); cb_t cbs[2]; };
         void set_handler(void (*handler)(int sig));
         int (*get_op(int which))(int, void *);
         cb_t pick(cb_t a, cb_t b);
         void (*signal(int sig, void (*func)(int)))(int);
         int (*table[3])(void);
         int (*(*nested)(int))(char);",
    );
    let int = scalar(CScalar::Int);
    let fn_type = |ret: CType, params: Vec<CType>| {
        CType::Function(
            FunctionType {
                ret,
                params,
                variadic: false,
            }
            .into(),
        )
    };
    let cb = ptr(fn_type(int.clone(), vec![int.clone(), ptr(CType::Void)]));
    assert_eq!(d.typedef("cb_t"), Some(cb.clone()));
    let ops = d.tag(TagKind::Struct, "ops").unwrap();
    assert_eq!(ops.size().unwrap(), 32);
    assert_eq!(func(&d, "get_op").ret, cb);
    assert_eq!(func(&d, "get_op").params, vec![int.clone()]);
    assert_eq!(func(&d, "pick").params, vec![cb.clone(), cb.clone()]);
    let handler = ptr(fn_type(CType::Void, vec![int.clone()]));
    let signal = func(&d, "signal");
    assert_eq!(signal.ret, handler);
    assert_eq!(signal.params, vec![int.clone(), handler.clone()]);
    assert_eq!(
        d.variable("table"),
        Some(CType::array_of(ptr(fn_type(int.clone(), vec![])), Some(3)))
    );
    assert_eq!(
        d.variable("nested"),
        Some(ptr(fn_type(
            ptr(fn_type(int.clone(), vec![scalar(CScalar::Char)])),
            vec![int]
        )))
    );
    assert_eq!(
        d.variable("nested").unwrap().to_string(),
        "int(*(*)(int))(char)"
    );
}

#[test]
fn arrays_with_constant_sizes() {
    let d = parse(
        "#define N 4
         enum { M = N * 2 };
         int a[N], b[M + 1][N - 1], c[sizeof(long) * 2], d[(N << 1) % 5], e[0x10], f[010], g[];
         char h[N ? 3 : 1/0];
         struct s { char name[N * 8]; int grid[2][3]; };",
    );
    let int = scalar(CScalar::Int);
    let arr = |t: CType, n| CType::array_of(t, Some(n));
    assert_eq!(d.variable("a"), Some(arr(int.clone(), 4)));
    assert_eq!(d.variable("b"), Some(arr(arr(int.clone(), 3), 9)));
    assert_eq!(d.variable("c"), Some(arr(int.clone(), 16)));
    assert_eq!(d.variable("d"), Some(arr(int.clone(), 3)));
    assert_eq!(d.variable("e"), Some(arr(int.clone(), 16)));
    assert_eq!(d.variable("f"), Some(arr(int.clone(), 8)));
    assert_eq!(d.variable("g"), Some(CType::array_of(int, None)));
    assert_eq!(d.variable("h"), Some(arr(scalar(CScalar::Char), 3)));
    assert_eq!(d.tag(TagKind::Struct, "s").unwrap().size().unwrap(), 56);
}

#[test]
fn defines_and_constant_expressions() {
    let d = parse(
        r"#define DEC 42
#define NEG -42
#define HEX 0x7fFF
#define OCT 0755
#define BIN 0b1010
#define ZERO 0
#define CHR 'A'
#define ESC '\n'
#define OCTESC '\101'
#define HEXESC '\xff'
#define QUOTE '\''
#define WIDE L'\x263A'
#define U16 u'x'
#define U32 U'\U0001F600'
#define SUF1 10u
#define SUF2 10UL
#define SUF3 10ll
#define SUF4 10ULL
#define SUF5 10lu
#define ADD (1 + 2 * 3)
#define SUB (10 - 20)
#define DIV (-7 / 2)
#define MOD (-7 % 3)
#define SHIFTS ((1 << 4) | (256 >> 2))
#define BITS ((0xf0 & 0x3c) ^ 0x01)
#define NOT (!0 + !5)
#define TILDE ~0
#define UTILDE ~0u
#define ULTILDE ~0UL
#define MINUS_U -1u
#define BIG 0xffffffffffffffff
#define INT_MIN_ (-2147483647 - 1)
#define SIGN_BIT (1 << 31)
#define UNSIGNED_CMP (-1 < 0u)
#define SIGNED_CMP (-1 < 0)
#define TERNARY (DEC > 40 ? DEC : -1)
#define LOGIC (1 && 0 || 2)
#define SHORT_CIRCUIT (0 && (1 / 0))
#define CAST_UCHAR ((unsigned char)-1)
#define CAST_SCHAR ((signed char)200)
#define CAST_BOOL ((_Bool)42)
#define CAST_U32 ((uint32_t)-1)
#define CAST_LL ((long long)HEX << 40)
#define SIZE sizeof(double[3])
#define REF (ADD + SUB)
#define MULTI_LINE (1 + \
                    2)
#define WITH_COMMENT 7 /* a comment */ // and another
#  define SPACED 8
#define LONG_MUL (0x100000000 * 0x10)
#define UWRAP (0u - 1)
",
    );
    let expected: &[(&str, i128)] = &[
        ("DEC", 42),
        ("NEG", -42),
        ("HEX", 0x7fff),
        ("OCT", 0o755),
        ("BIN", 10),
        ("ZERO", 0),
        ("CHR", 65),
        ("ESC", 10),
        ("OCTESC", 65),
        ("HEXESC", -1), // char is signed on x86-64
        ("QUOTE", 39),
        ("WIDE", 0x263a),
        ("U16", 120),
        ("U32", 0x1f600),
        ("SUF1", 10),
        ("SUF2", 10),
        ("SUF3", 10),
        ("SUF4", 10),
        ("SUF5", 10),
        ("ADD", 7),
        ("SUB", -10),
        ("DIV", -3),
        ("MOD", -1),
        ("SHIFTS", 80),
        ("BITS", 0x31),
        ("NOT", 1),
        ("TILDE", -1),
        ("UTILDE", 0xffff_ffff),
        ("ULTILDE", 0xffff_ffff_ffff_ffff),
        ("MINUS_U", 0xffff_ffff),
        ("BIG", 0xffff_ffff_ffff_ffff),
        ("INT_MIN_", -2_147_483_648),
        ("SIGN_BIT", -2_147_483_648),
        ("UNSIGNED_CMP", 0),
        ("SIGNED_CMP", 1),
        ("TERNARY", 42),
        ("LOGIC", 1),
        ("SHORT_CIRCUIT", 0),
        ("CAST_UCHAR", 255),
        ("CAST_SCHAR", -56),
        ("CAST_BOOL", 1),
        ("CAST_U32", 0xffff_ffff),
        ("CAST_LL", 0x7fff << 40),
        ("SIZE", 24),
        ("REF", -3),
        ("MULTI_LINE", 3),
        ("WITH_COMMENT", 7),
        ("SPACED", 8),
        ("LONG_MUL", 0x10_0000_0000),
        ("UWRAP", 0xffff_ffff),
    ];
    for (name, value) in expected {
        assert_eq!(d.constant(name), Some(*value), "{name}");
    }
    assert_eq!(d.constants().count(), expected.len());
}

#[test]
fn comments_everywhere() {
    let d = parse(
        "// line comment\n/* block */ int /* inside */ a /* before ; */; // trailing\n\
         /* multi\n line\n comment */ struct s { int x; // member\n /* c */ };\n\
         #define X 1 // comment after a define\n",
    );
    assert!(d.variable("a").is_some());
    assert!(d.tag(TagKind::Struct, "s").is_some());
    assert_eq!(d.constant("X"), Some(1));
}

#[test]
fn iteration_in_declaration_order() {
    let d = parse(
        "typedef int t1; struct s1 { int a; }; int f1(void); int v1; enum e1 { C1 };
         typedef char t2; union u1 { int a; }; void f2(int); double v2;\n#define D1 5",
    );
    let typedefs: Vec<&str> = d.typedefs().map(|(n, _)| n).collect();
    assert_eq!(typedefs, ["t1", "t2"]);
    let tags: Vec<(TagKind, &str)> = d.tags().map(|(k, n, _)| (k, n)).collect();
    assert_eq!(
        tags,
        [
            (TagKind::Struct, "s1"),
            (TagKind::Enum, "e1"),
            (TagKind::Union, "u1")
        ]
    );
    let functions: Vec<&str> = d.functions().map(|(n, _)| n).collect();
    assert_eq!(functions, ["f1", "f2"]);
    let variables: Vec<&str> = d.variables().map(|(n, _)| n).collect();
    assert_eq!(variables, ["v1", "v2"]);
    let constants: Vec<(&str, i128)> = d.constants().map(|(n, v, _)| (n, v)).collect();
    assert_eq!(constants, [("C1", 0), ("D1", 5)]);
}

#[test]
fn directives_only_between_declarations() {
    // `#` not at the start of a line is a stray token.
    check_error("int a; #define X 1", 1, 8, "expected a declaration");
    check_error(
        "struct s {\n#define X 1\n int a; };",
        2,
        1,
        "preprocessor directives are only supported between declarations",
    );
    // The null directive is fine.
    parse("#\nint a;");
}

// ---- accumulation, redefinition, override, atomicity ----

#[test]
fn accumulation_across_parses() {
    let mut d = Declarations::new();
    d.parse("#define N 3\ntypedef int myint;").unwrap();
    d.parse("enum e { A = N };").unwrap();
    d.parse("myint arr[A + N]; struct s { myint x; };").unwrap();
    d.parse("struct s *get(void);").unwrap();
    assert_eq!(
        d.variable("arr"),
        Some(CType::array_of(scalar(CScalar::Int), Some(6)))
    );
    assert_eq!(d.typedefs().count(), 1);
    assert_eq!(d.functions().count(), 1);
    assert_eq!(d.constants().count(), 2);
}

#[test]
fn identical_redeclarations_are_fine() {
    let mut d = Declarations::new();
    let src = "typedef int t; int f(int, char *); extern int v;\n#define X 4\n\
               struct s { int a; char b : 3; }; enum e { A, B };";
    d.parse(src).unwrap();
    d.parse(src).unwrap();
    d.parse("int f(int x, char *name); typedef int t; int v; int v;")
        .unwrap();
    assert_eq!(d.typedefs().count(), 1);
    assert_eq!(d.functions().count(), 1);
    // Through another typedef, still the same type.
    d.parse("typedef int other; typedef other t;").unwrap();
    // Anonymous structs, unions and enums are compared by their members.
    let anonymous = "typedef struct { int a; union { char c; short s; }; } anon_t;
        struct holder { union { int i; float f; }; struct { char x; } inner; };
        typedef enum { AE0, AE1 = 4 } anon_e;
        void take(struct { int q; } *p);
        typedef struct { int a; } *anon_p[2];";
    d.parse(anonymous).unwrap();
    d.parse(anonymous).unwrap();
    let err = d
        .parse("typedef struct { long a; } *anon_p[2];")
        .unwrap_err();
    assert_error(&err, 1, 29, "redefinition of 'anon_p'");
    let err = d
        .parse("typedef enum { AE0, AE1 = 4, AE2 } anon_e;")
        .unwrap_err();
    assert_error(&err, 1, 36, "redefinition of 'anon_e'");
}

#[test]
fn redefinitions_are_errors() {
    let mut d = Declarations::new();
    d.parse(
        "typedef int t;\nint f(int);\nint v;\n#define X 1\nstruct s { int a; };\nenum e { A };",
    )
    .unwrap();
    let err = |d: &mut Declarations, src: &str| d.parse(src).unwrap_err();
    assert_error(
        &err(&mut d, "typedef long t;"),
        1,
        14,
        "redefinition of 't'",
    );
    assert_error(&err(&mut d, "int f(long);"), 1, 5, "redefinition of 'f'");
    assert_error(&err(&mut d, "char v;"), 1, 6, "redefinition of 'v'");
    assert_error(&err(&mut d, "#define X 2"), 1, 9, "redefinition of 'X'");
    assert_error(
        &err(&mut d, "int t;"),
        1,
        5,
        "'t' redeclared as a different kind of symbol (it is a typedef)",
    );
    assert_error(
        &err(&mut d, "void A(void);"),
        1,
        6,
        "'A' redeclared as a different kind of symbol (it is a constant)",
    );
    assert_error(
        &err(&mut d, "struct s { long a; };"),
        1,
        8,
        "redefinition of 'struct s'",
    );
    assert_error(
        &err(&mut d, "enum e { A, B };"),
        1,
        6,
        "redefinition of 'enum e'",
    );
    // Each kind of tag has its own namespace: redefining one kind is an
    // error also when another kind of the same tag exists.
    d.parse("union s { char c; }; enum s { S };").unwrap();
    assert_error(
        &err(&mut d, "union s { long a; };"),
        1,
        7,
        "redefinition of 'union s'",
    );
    // Nothing of the failed parses stuck.
    assert_eq!(d.constant("B"), None);
    assert_eq!(d.typedef("t"), Some(scalar(CScalar::Int)));
    // Redefinitions are told apart from malformed source.
    for again in [
        "typedef long t;",
        "#define X 2",
        "int t;",
        "struct s { long a; };",
    ] {
        assert!(err(&mut d, again).redefinition, "{again}");
    }
    for malformed in [
        "typedef long;",
        "#define Y",
        "struct s { long a }",
        "int f(;",
    ] {
        assert!(!err(&mut d, malformed).redefinition, "{malformed}");
    }
    // The same declaration again is no redefinition at all.
    d.parse(
        "typedef int t;
#define X 1",
    )
    .unwrap();
}

#[test]
fn override_replaces() {
    let mut d = Declarations::new();
    d.parse("typedef int t; int f(int); int v;\n#define X 1\nstruct s { int a; }; enum e { A };")
        .unwrap();
    let old_s = d.tag(TagKind::Struct, "s").unwrap();
    let options = ParseOptions::default().with_override(true);
    d.parse_with(
        "typedef long t; int f(long); char v;\n#define X 2\nstruct s { long a; }; enum e { A = 5, B }; double t2; int A2;",
        options,
    )
    .unwrap();
    assert_eq!(d.typedef("t"), Some(scalar(CScalar::Long)));
    assert_eq!(func(&d, "f").params, vec![scalar(CScalar::Long)]);
    assert_eq!(d.variable("v"), Some(scalar(CScalar::Char)));
    assert_eq!(d.constant("X"), Some(2));
    assert_eq!(d.constant("A"), Some(5));
    assert_eq!(d.constant("B"), Some(6));
    assert_eq!(d.tag(TagKind::Struct, "s").unwrap().size().unwrap(), 8);
    // Types made from the old declaration keep it.
    assert_eq!(old_s.size().unwrap(), 4);
    // Kinds may change too.
    d.parse_with("void t(void);", options).unwrap();
    assert!(d.function("t").is_some() && d.typedef("t").is_none());
    // Iteration keeps the original positions.
    assert_eq!(d.typedefs().count(), 0);
}

#[test]
fn a_failed_parse_changes_nothing() {
    let mut d = Declarations::new();
    d.parse("struct opaque; typedef struct opaque opaque_t; int keep;")
        .unwrap();
    let before = d.typedef("opaque_t").unwrap();
    let err = d
        .parse(
            "#define NEW 1\ntypedef int newt; struct opaque { int a; }; enum ne { NE };\nstruct fresh { int b; };\nint keep2\nbroken",
        )
        .unwrap_err();
    assert_error(&err, 5, 1, "expected ';' after declaration");
    assert_eq!(d.constant("NEW"), None);
    assert_eq!(d.constant("NE"), None);
    assert_eq!(d.typedef("newt"), None);
    assert_eq!(d.tag(TagKind::Struct, "fresh"), None);
    assert_eq!(d.tag(TagKind::Enum, "ne"), None);
    assert_eq!(d.variable("keep2"), None);
    // The opaque struct is still opaque, and can be defined differently.
    assert!(!is_complete(&d.tag(TagKind::Struct, "opaque").unwrap()));
    assert!(before.size().is_err());
    d.parse("struct opaque { double d; };").unwrap();
    assert_eq!(before.size().unwrap(), 8);
    assert_eq!(d.variables().count(), 1);
}

#[test]
fn packing_options() {
    let src = "struct p { char c; int i; short s; }; struct q { char c; double d; };";
    let layout = |packing| {
        let mut d = Declarations::new();
        d.parse_with(src, ParseOptions::default().with_packing(packing))
            .unwrap();
        let p = d.tag(TagKind::Struct, "p").unwrap();
        let q = d.tag(TagKind::Struct, "q").unwrap();
        (
            p.size().unwrap(),
            record_fields(&p)[1].1,
            q.size().unwrap(),
            record_fields(&q)[1].1,
        )
    };
    assert_eq!(layout(Packing::Natural), (12, 4, 16, 8));
    assert_eq!(layout(Packing::Packed), (7, 1, 9, 1));
    assert_eq!(layout(Packing::Pack(2)), (8, 2, 10, 2));
    assert_eq!(layout(Packing::Pack(4)), (12, 4, 12, 4));
    // Only structs of that parse are affected.
    let mut d = Declarations::new();
    d.parse("struct a { char c; int i; };").unwrap();
    d.parse_with(
        "struct b { char c; int i; };",
        ParseOptions::default().with_packing(Packing::Packed),
    )
    .unwrap();
    assert_eq!(d.tag(TagKind::Struct, "a").unwrap().size().unwrap(), 8);
    assert_eq!(d.tag(TagKind::Struct, "b").unwrap().size().unwrap(), 5);
    // A packing that is no power of two is reported at the struct.
    let err = Declarations::new()
        .parse_with(
            "struct c { int i; };",
            ParseOptions::default().with_packing(Packing::Pack(3)),
        )
        .unwrap_err();
    assert_error(
        &err,
        1,
        8,
        "invalid layout of struct c: pack(3): the packing must be a power of two",
    );
}

// ---- parse_type ----

#[test]
fn parse_type_names() {
    let d = parse("typedef struct foo { int a; } foo_t; typedef int (*cb)(int); enum e { E1 };");
    let char_ = scalar(CScalar::Char);
    let int = scalar(CScalar::Int);
    let cases: Vec<(&str, CType)> = vec![
        ("int", int.clone()),
        ("int[16]", CType::array_of(int.clone(), Some(16))),
        (
            "const char *[4]",
            CType::array_of(ptr(char_.clone()), Some(4)),
        ),
        ("char **", ptr(ptr(char_.clone()))),
        ("struct foo *", ptr(d.tag(TagKind::Struct, "foo").unwrap())),
        ("foo_t", d.tag(TagKind::Struct, "foo").unwrap()),
        (
            "foo_t[]",
            CType::array_of(d.typedef("foo_t").unwrap(), None),
        ),
        ("enum e", d.tag(TagKind::Enum, "e").unwrap()),
        ("cb", d.typedef("cb").unwrap()),
        ("cb *", ptr(d.typedef("cb").unwrap())),
        ("int (*)[3]", ptr(CType::array_of(int.clone(), Some(3)))),
        (
            "int(*)(int, ...)",
            ptr(CType::Function(
                FunctionType {
                    ret: int.clone(),
                    params: vec![int.clone()],
                    variadic: true,
                }
                .into(),
            )),
        ),
        (
            "void (int)",
            CType::Function(
                FunctionType {
                    ret: CType::Void,
                    params: vec![int.clone()],
                    variadic: false,
                }
                .into(),
            ),
        ),
        ("int[E1 + 2]", CType::array_of(int.clone(), Some(2))),
        ("  unsigned  long\n ", scalar(CScalar::ULong)),
    ];
    for (name, want) in &cases {
        assert_eq!(&d.parse_type(name).unwrap(), want, "{name}");
        // Cached: the same again.
        assert_eq!(&d.parse_type(name).unwrap(), want, "{name} (cached)");
    }
    let err = |name: &str| d.parse_type(name).unwrap_err();
    // Read as a parameter declaration: a name is allowed and ignored.
    assert_eq!(d.parse_type("int x").unwrap(), int);
    assert!(matches!(
        d.parse_type("void foo(int)").unwrap(),
        CType::Function(_)
    ));
    assert_error(&err("int x y"), 1, 7, "unexpected 'y' after the type name");
    // An undeclared tag is an opaque record of that name, not declared.
    let opaque = d.parse_type("struct nope *").unwrap();
    let CType::Pointer(to) = &opaque else {
        panic!("{opaque:?}")
    };
    assert_eq!(to.to_string(), "struct nope");
    assert!(to.size().is_err(), "opaque: no size");
    assert!(d.tag(TagKind::Struct, "nope").is_none(), "not declared");
    assert!(d.parse_type("union nope").is_ok());
    // Every spelling of it names the same record.
    let again = d.parse_type("struct  nope*").unwrap();
    match (&opaque, &again) {
        (CType::Pointer(a), CType::Pointer(b)) => match (&**a, &**b) {
            (CType::Record(a), CType::Record(b)) => assert!(std::sync::Arc::ptr_eq(a, b)),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    // An undeclared enum is one without values (cffi's guess: unsigned
    // int), not declared either, and the same one in every spelling.
    let CType::Enum(guessed) = d.parse_type("enum nope").unwrap() else {
        panic!("an enum")
    };
    assert!(guessed.is_opaque() && guessed.underlying == CScalar::UInt);
    assert!(d.tag(TagKind::Enum, "nope").is_none(), "not declared");
    match d.parse_type("enum  nope *").unwrap() {
        CType::Pointer(to) => match &*to {
            CType::Enum(again) => assert!(std::sync::Arc::ptr_eq(&guessed, again)),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_error(&err("nope_t"), 1, 1, "unknown type name 'nope_t'");
    assert_error(&err(""), 1, 1, "expected a type name");
    assert_error(
        &err("int["),
        1,
        5,
        "expected an integer constant expression",
    );
    assert_error(
        &err("struct s { int a; }"),
        1,
        8,
        "a type name cannot declare 'struct s'",
    );
    assert_error(
        &err("struct { struct inner { int a; } i; } *"),
        1,
        17,
        "a type name cannot declare 'struct inner'",
    );
    assert_error(
        &err("struct { enum { E } e; }"),
        1,
        10,
        "a type name cannot define an enum",
    );
    assert_error(
        &err("int[-1]"),
        1,
        5,
        "array size must be a non-negative integer constant",
    );
    // An anonymous struct or union may be defined in a type name (as cffi
    // allows); it is laid out as in a declaration.
    let anon = d.parse_type("struct{int a;}").unwrap();
    assert_eq!(
        (anon.size().unwrap(), anon.to_string()),
        (4, "struct $anonymous".into())
    );
    let CType::Pointer(s) = d
        .parse_type("struct { char c; union { short h; double x; } u; int i[4]; } *")
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        record_fields(&s),
        [
            (Some("c".into()), 0, None),
            (Some("u".into()), 8, None),
            (Some("i".into()), 16, None)
        ]
    );
    assert_eq!(s.size().unwrap(), 32);
    assert_eq!(
        d.parse_type("union { foo_t f; char c[5]; }[2]")
            .unwrap()
            .size()
            .unwrap(),
        16
    );
    // A later parse that changes a typedef (override) is seen.
    let mut d = d;
    assert_eq!(d.parse_type("foo_t").unwrap().size().unwrap(), 4);
    d.parse_with(
        "typedef long foo_t;",
        ParseOptions::default().with_override(true),
    )
    .unwrap();
    assert_eq!(d.parse_type("foo_t").unwrap(), scalar(CScalar::Long));
}

#[test]
fn parse_type_cache_is_bounded() {
    let d = parse("struct s { int a; };");
    for n in 0..5000 {
        let ty = d.parse_type(&format!("int[{n}]")).unwrap();
        assert_eq!(ty, CType::array_of(scalar(CScalar::Int), Some(n)));
    }
    assert_eq!(d.parse_type("struct s").unwrap().size().unwrap(), 4);
    // Long names are parsed every time rather than remembered.
    let long = format!("int{}[2]", " ".repeat(1 << 20));
    for _ in 0..3 {
        assert_eq!(d.parse_type(&long).unwrap().size().unwrap(), 8);
    }
}

#[test]
fn declarations_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Declarations>();
    let d = parse("typedef int t;");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    assert_eq!(d.parse_type("t *").unwrap().size().unwrap(), 8);
                }
            });
        }
    });
}

// ---- errors ----

#[test]
fn error_messages_and_positions() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("int x", 1, 6, "expected ';' after declaration"),
        (
            "int f(void)\nint g;",
            2,
            1,
            "expected ';' after declaration",
        ),
        ("foo_t x;", 1, 1, "unknown type name 'foo_t'"),
        (
            "int a;\n  const foo_t *p;",
            2,
            9,
            "unknown type name 'foo_t'",
        ),
        ("int x;\nlong x;", 2, 6, "redefinition of 'x'"),
        (
            "int a[-1];",
            1,
            7,
            "array size must be a non-negative integer constant",
        ),
        (
            "#define X (1/0)",
            1,
            13,
            "division by zero in constant expression",
        ),
        (
            "enum { A = 5 % (2 - 2) };",
            1,
            14,
            "division by zero in constant expression",
        ),
        (
            "enum e { A = 1 << 40 };",
            1,
            16,
            "shift count out of range in constant expression",
        ),
        (
            "#define BIG 2147483647 + 1",
            1,
            24,
            "integer overflow in constant expression",
        ),
        (
            "#define M -(-2147483647 - 1)",
            1,
            11,
            "integer overflow in constant expression",
        ),
        ("#define X Y", 1, 11, "undeclared identifier 'Y'"),
        (
            "int v;\n#define X v",
            2,
            11,
            "'v' is a variable, not an integer constant",
        ),
        ("struct s { int a; int a; };", 1, 23, "duplicate member 'a'"),
        (
            "struct s { union { int a; }; char a; };",
            1,
            35,
            "duplicate member 'a'",
        ),
        ("int x; /* never closed", 1, 8, "unterminated comment"),
        ("typedef int t = 3;", 1, 15, "typedef 't' is initialized"),
        (
            "int f(void) = 0;",
            1,
            13,
            "function 'f' is initialized like a variable",
        ),
        ("float f = (1;", 1, 13, "unexpected ';' in the initializer"),
        ("float f = 1)", 1, 12, "unexpected ')' in the initializer"),
        (
            "float f = {1, 2",
            1,
            16,
            "unexpected end of input in the initializer",
        ),
        (
            "int i = 1.5;",
            1,
            9,
            "a floating constant is not an integer constant",
        ),
        (
            "int f(void) { return 0; }",
            1,
            13,
            "function definitions are not supported",
        ),
        (
            "#include <stdio.h>",
            1,
            2,
            "unsupported preprocessor directive '#include' (only #define is supported)",
        ),
        (
            "#define F(x) x",
            1,
            10,
            "function-like macros are not supported",
        ),
        (
            "#define EMPTY\nint a;",
            1,
            14,
            "macro 'EMPTY' has no value (only integer constant macros are supported)",
        ),
        (
            "#define STR \"s\"",
            1,
            13,
            "a string literal is not an integer constant",
        ),
        (
            "#define TWO 1 2",
            1,
            15,
            "unexpected '2' in the value of macro 'TWO' (only an integer constant expression is supported)",
        ),
        ("#define 3 4", 1, 9, "expected a macro name after '#define'"),
        (
            "struct s { int a : 40; };",
            1,
            16,
            "width of bit-field 'a' (40 bits) exceeds its type (32 bits)",
        ),
        (
            "struct s { _Bool b : 2; };",
            1,
            18,
            "width of bit-field 'b' (2 bits) exceeds its type (1 bits)",
        ),
        (
            "struct s { double d : 3; };",
            1,
            19,
            "bit-field 'd' has invalid type 'double'",
        ),
        (
            "struct s { int : 0; int z : 0; };",
            1,
            25,
            "zero width for bit-field 'z'",
        ),
        (
            "struct s { int x : -1; };",
            1,
            20,
            "bit-field width must be a non-negative integer constant",
        ),
        (
            "struct s { int n; int data[]; int after; };",
            1,
            23,
            "flexible array member 'data' not at end of struct",
        ),
        (
            "union u { int n; int data[]; };",
            1,
            22,
            "flexible array member 'data' in a union",
        ),
        (
            "struct opaque;\nstruct s { struct opaque o; };",
            2,
            26,
            "field 'o' has incomplete type 'struct opaque'",
        ),
        (
            "struct s { int f(int); };",
            1,
            16,
            "field 'f' declared as a function",
        ),
        (
            "struct s { int; };",
            1,
            15,
            "declaration does not declare anything",
        ),
        (
            "struct s { int a; int b }",
            1,
            25,
            "expected ';' after member declaration",
        ),
        (
            "struct s { int a;",
            1,
            18,
            "expected '}' at the end of the struct",
        ),
        (
            "int f(void, int);",
            1,
            7,
            "'void' must be the only parameter",
        ),
        (
            "int f(int, void x);",
            1,
            17,
            "'void' must be the only parameter",
        ),
        (
            "int (*f)(int",
            1,
            13,
            "expected ',' or ')' in parameter list",
        ),
        ("int f(int, ...", 1, 15, "expected ')' after '...'"),
        (
            "int x[3](int);",
            1,
            6,
            "declaration of an array of functions",
        ),
        ("int f(void)[3];", 1, 6, "function cannot return an array"),
        (
            "int f(void)(int);",
            1,
            6,
            "function cannot return a function",
        ),
        (
            "struct opaque; struct opaque arr[2];",
            1,
            33,
            "array has incomplete element type 'struct opaque'",
        ),
        (
            "int m[2][];",
            1,
            6,
            "array has incomplete element type 'int[]'",
        ),
        // Only the outermost array of a parameter is a pointer.
        (
            "struct later; void f(struct later a[][2]);",
            1,
            38,
            "array has incomplete element type 'struct later'",
        ),
        (
            "char huge[0x7fffffffffffffff][2];",
            1,
            10,
            "array is too large",
        ),
        ("void v;", 1, 6, "variable 'v' declared void"),
        ("int;", 1, 4, "declaration does not declare anything"),
        ("typedef int;", 1, 12, "typedef declares no name"),
        ("int *;", 1, 6, "expected identifier or '('"),
        ("long long long x;", 1, 11, "'long long long' is too long"),
        (
            "signed unsigned x;",
            1,
            8,
            "both 'signed' and 'unsigned' in declaration specifiers",
        ),
        (
            "int double x;",
            1,
            5,
            "two or more data types in declaration specifiers",
        ),
        (
            "short long x;",
            1,
            7,
            "two or more data types in declaration specifiers",
        ),
        ("int int x;", 1, 5, "duplicate 'int'"),
        ("typedef typedef int x;", 1, 9, "duplicate 'typedef'"),
        (
            "struct s { typedef int t; };",
            1,
            12,
            "'typedef' is not allowed here",
        ),
        ("void f(extern int);", 1, 8, "'extern' is not allowed here"),
        (
            "_Complex double z;",
            1,
            1,
            "complex types are not supported",
        ),
        (
            "enum e { A = ... };",
            1,
            14,
            "cffi's '...' is not allowed here",
        ),
        ("int f(int, ...[2]);", 1, 15, "expected ')' after '...'"),
        (
            "enum e { ..., A };",
            1,
            13,
            "expected '}' after '...' in an enum",
        ),
        ("int x @;", 1, 7, "expected ';' after declaration"),
        ("int é;", 1, 5, "invalid character 'é' in source"),
        ("int a\u{1};", 1, 6, "invalid character '\\u{1}' in source"),
        ("enum e {};", 1, 9, "expected an enumerator name"),
        (
            "enum e { A B };",
            1,
            12,
            "expected ',' or '}' after enumerator",
        ),
        (
            "enum e;\nenum e { E };",
            2,
            6,
            "'enum e' was declared without enumerators; they must be given where the enum is first declared",
        ),
        ("struct { int a; } *;", 1, 20, "expected identifier or '('"),
        ("struct;", 1, 7, "expected a name or '{' after 'struct'"),
        (
            "struct s { char big[0x7fffffffffffffff]; };",
            1,
            8,
            "struct s is too large",
        ),
        (
            "struct t { char a[0x0100000000000000]; };\nunion { struct t x[16]; int i; } u;",
            2,
            1,
            "union $anonymous is too large",
        ),
        (
            "typedef int t;\nt t2;\nint t;",
            3,
            5,
            "'t' redeclared as a different kind of symbol (it is a typedef)",
        ),
        ("int v;\nv x;", 2, 1, "'v' is a variable, not a type"),
        ("#define X 1\n#define X 2", 2, 9, "redefinition of 'X'"),
        (
            "struct s { int a; };\nstruct s { int b; };",
            2,
            8,
            "redefinition of 'struct s'",
        ),
        (
            "enum e { A };\nenum e { A, B };",
            2,
            6,
            "redefinition of 'enum e'",
        ),
        (
            "#define C 'ab'",
            1,
            11,
            "multi-character character constant",
        ),
        ("#define C ''", 1, 11, "empty character constant"),
        ("#define C 'é'", 1, 11, "multi-character character constant"),
        ("#define C '\\q'", 1, 11, "unknown escape sequence '\\q'"),
        ("#define C 'a", 1, 11, "missing terminating ' character"),
        ("#define N 0x", 1, 11, "invalid integer constant '0x'"),
        ("#define N 08", 1, 11, "invalid digit '8' in octal constant"),
        (
            "#define N 0b12",
            1,
            11,
            "invalid digit '2' in binary constant",
        ),
        (
            "#define N 1.5",
            1,
            11,
            "a floating constant is not an integer constant",
        ),
        (
            "#define N 1e3",
            1,
            11,
            "a floating constant is not an integer constant",
        ),
        (
            "#define N 1uu",
            1,
            11,
            "invalid suffix 'uu' on integer constant",
        ),
        (
            "#define N 1lL",
            1,
            11,
            "invalid suffix 'lL' on integer constant",
        ),
        (
            "#define N 99999999999999999999999",
            1,
            11,
            "integer constant is too large",
        ),
        ("#define N (1", 1, 13, "expected ')'"),
        (
            "#define N (1 ? 2)",
            1,
            17,
            "expected ':' in conditional expression",
        ),
        (
            "#define N ((void *)0)",
            1,
            12,
            "cast to 'void *' in an integer constant expression",
        ),
        (
            "struct opaque;\nint a[sizeof(struct opaque)];",
            2,
            7,
            "invalid application of 'sizeof' to incomplete type 'struct opaque'",
        ),
        (
            "#define N sizeof 1",
            1,
            18,
            "sizeof is supported only on a parenthesized type name",
        ),
        (
            "int a;\r\nint b\r\n",
            2,
            6,
            "expected ';' after declaration",
        ),
        ("\tdouble d = ;", 1, 13, "expected an initializer"),
        ("}", 1, 1, "expected a declaration"),
        ("const;", 1, 6, "expected a type name"),
        (
            "void f(int a b);",
            1,
            14,
            "expected ',' or ')' in parameter list",
        ),
        ("void f(,);", 1, 8, "expected a parameter declaration"),
        ("struct s { 5 };", 1, 12, "expected a member declaration"),
        ("int x[3;", 1, 8, "expected ']'"),
        ("int (x;", 1, 7, "expected ')'"),
    ];
    for (src, line, column, message) in cases {
        let err = parse_err(src);
        assert_error(&err, *line, *column, message);
    }
}

/// A function returning an array is told apart from malformed source
/// (cffi's parser takes such a type name and refuses the type with a
/// TypeError): in declarations and in type names.
#[test]
fn functions_returning_arrays_are_flagged() {
    let d = Declarations::new();
    for name in ["int(*)(int)[5]", "int(int)[5]", "char(*(*)(void))(long)[2]"] {
        let err = d.parse_type(name).unwrap_err();
        assert!(err.function_returns_array, "{name}: {err}");
    }
    for other in ["int(void)(int)", "int([5])(int)", "int(*)(int", "int[2][]"] {
        assert!(
            !d.parse_type(other).unwrap_err().function_returns_array,
            "{other}"
        );
    }
    let mut d = Declarations::new();
    assert!(
        d.parse("int f(void)[3];")
            .unwrap_err()
            .function_returns_array
    );
}

#[test]
fn error_display_shows_line_and_caret() {
    let err = parse_err("typedef int a;\n\n  struct s {\n    a x;\n    bogus_t y;\n  };");
    assert_eq!(
        err.to_string(),
        "line 5:5: unknown type name 'bogus_t'\n    bogus_t y;\n    ^"
    );
    // The column counts characters, not bytes.
    let err = parse_err("/* ünïcödé */ int x");
    assert_error(&err, 1, 20, "expected ';' after declaration");
    // An error at the end of the input points just past the last token.
    let err = parse_err("int x\n\n\n");
    assert_error(&err, 1, 6, "expected ';' after declaration");
}

#[test]
fn nesting_is_capped() {
    let deep = |prefix: &str, unit: &str, n: usize, suffix: &str| {
        format!("{prefix}{}{suffix}", unit.repeat(n))
    };
    let too_deep = "nesting too deep (more than 100 levels)";
    let type_too_deep = "type nested too deeply (more than 200 pointer, array and function levels)";
    // Parenthesized expressions.
    let err = parse_err(&deep("#define X ", "(", 100_000, "1"));
    assert_error(&err, 1, 111, too_deep);
    // Unary operators.
    let err = parse_err(&deep("#define X ", "-", 100_000, "1"));
    assert_error(&err, 1, 111, too_deep);
    let err = parse_err(&deep("#define X ", "~!", 100_000, "1"));
    assert_eq!(err.message, too_deep);
    // Casts.
    let err = parse_err(&deep("#define X ", "(int)", 100_000, "1"));
    assert_eq!(err.message, too_deep);
    // Struct bodies.
    let err = parse_err(&deep("", "struct { ", 100_000, ""));
    assert_eq!(err.message, too_deep);
    // Parenthesized declarators.
    let err = parse_err(&deep("int ", "(", 100_000, "x"));
    assert_eq!(err.message, too_deep);
    // Parameter lists.
    let err = parse_err(&deep("int f", "(int (*)", 100_000, ""));
    assert_eq!(err.message, too_deep);
    // Pointers, arrays, function suffixes.
    let err = parse_err(&deep("int ", "*", 100_000, "x;"));
    assert_eq!(err.message, type_too_deep);
    let err = parse_err(&deep("int x", "[1]", 100_000, ";"));
    assert_eq!(err.message, type_too_deep);
    let err = parse_err(&deep("int (*x)", "(void)", 100_000, ";"));
    assert!(err.message == type_too_deep || err.message.starts_with("function cannot return"));
    // Types built up through typedefs.
    let mut src = String::from("typedef int t0;\n");
    for i in 1..=300 {
        src.push_str(&format!("typedef t{} *t{i};\n", i - 1));
    }
    let err = parse_err(&src);
    assert_error(&err, 201, 14, type_too_deep);
    // Just below the limits is fine.
    parse(&(deep("#define X ", "(", 95, "1") + &")".repeat(95)));
    parse(&deep("int ", "*", 190, "x;"));
    let mut nested = String::new();
    for _ in 0..95 {
        nested.push_str("struct { ");
    }
    nested.push_str("int a; ");
    for _ in 0..95 {
        nested.push_str("} m; ");
    }
    parse(&format!(
        "{}int after;",
        nested.trim_end_matches("m; ").to_string() + ";"
    ));
}

#[test]
fn long_flat_inputs_do_not_recurse() {
    // 100k of everything that is iterative: declarations, members,
    // enumerators, parameters, operators, typedef chains without derivation.
    let mut src = String::new();
    for i in 0..20_000 {
        src.push_str(&format!("typedef int t{i}; "));
    }
    src.push_str("typedef t19999 last;\nstruct big {");
    for i in 0..20_000 {
        src.push_str(&format!(" int m{i};"));
    }
    src.push_str(" };\nenum many {");
    for i in 0..20_000 {
        src.push_str(&format!(" E{i},"));
    }
    src.push_str(" };\nvoid f(");
    for i in 0..20_000 {
        src.push_str(if i == 0 { "int" } else { ", int" });
    }
    src.push_str(");\n#define SUM 0");
    for _ in 0..20_000 {
        src.push_str(" + 1");
    }
    src.push('\n');
    let d = parse(&src);
    assert_eq!(d.constant("SUM"), Some(20_000));
    assert_eq!(func(&d, "f").params.len(), 20_000);
    assert_eq!(
        d.tag(TagKind::Struct, "big").unwrap().size().unwrap(),
        80_000
    );
    drop(d); // newest first: no deep drop either
}

#[test]
fn long_chains_of_placeholders_do_not_recurse() {
    // 20k structs each holding the previous one by value, the first an
    // `int...` member (no layout all the way up) or a partial struct
    // (partial all the way up), or through pointers: sizes and the missing
    // fact are found without walking the chain recursively, in linear time.
    for (first, expected) in [
        ("typedef int... id_t; struct s0 { id_t v; };", "id_t"),
        ("struct s0 { int v; ...; };", "struct s19999"),
    ] {
        let mut src = String::from(first);
        for i in 1..20_000 {
            src.push_str(&format!(" struct s{i} {{ struct s{} inner; }};", i - 1));
        }
        let d = within_30s(move || parse(&src));
        let top = d.tag(TagKind::Struct, "s19999").unwrap();
        let Err(Error::Missing(missing)) = top.size() else {
            panic!("{first}")
        };
        assert_eq!(missing.ty().to_string(), expected);
        assert_eq!(top.missing().unwrap().ty().to_string(), expected);
        // (The namespace drops its chain newest first; a chain kept
        // outside it would drop recursively.)
        drop((top, missing));
        drop(d);
    }
    let mut src = String::from("struct s0 { int v; ...; };");
    for i in 1..20_000 {
        src.push_str(&format!(" struct s{i} {{ struct s{} *p; }};", i - 1));
    }
    let d = within_30s(move || parse(&src));
    let top = d.tag(TagKind::Struct, "s19999").unwrap();
    assert_eq!(top.size().unwrap(), 8);
    assert_eq!(top.missing().unwrap().ty().to_string(), "struct s0");
    drop(top);
}

/// Runs `f` on its own thread and fails if it takes more than 30 seconds:
/// for inputs that would take exponential time if a limit were missing.
#[track_caller]
fn within_30s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let start = std::time::Instant::now();
    let worker = std::thread::spawn(f);
    while !worker.is_finished() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "still running after 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    worker
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[test]
fn sizes_and_values_are_capped() {
    // Array sizes: every product is checked against isize::MAX.
    check_error("int x[1LL<<62][1LL<<62];", 1, 15, "array is too large");
    check_error("int x[1LL<<62];", 1, 6, "array is too large");
    check_error("char x[18446744073709551615u];", 1, 8, "array is too large");
    check_error(
        "typedef int T[1LL<<40]; typedef T U[1LL<<40];",
        1,
        36,
        "array is too large",
    );
    check_error(
        "#define N sizeof(char[1ULL<<62])\nint y[N];",
        2,
        6,
        "array is too large",
    );
    let d = parse("#define N sizeof(char[1ULL<<62])");
    assert_eq!(d.constant("N"), Some(1 << 62));
    // Records: the sum of the members, before any layout.
    check_error(
        "struct s { char a[1LL<<61]; char b[1LL<<61]; char c[1LL<<61]; };",
        1,
        8,
        "struct s is too large",
    );
    // Integer literals: at most 64 bits, however many digits.
    check_error(
        &format!("#define X {}", "9".repeat(100_000)),
        1,
        11,
        "integer constant is too large",
    );
    check_error(
        "#define X 18446744073709551616",
        1,
        11,
        "integer constant is too large",
    );
    check_error(
        "#define X 0x10000000000000000",
        1,
        11,
        "integer constant is too large",
    );
    let d = parse(&format!("#define X 0x{}1", "0".repeat(100_000)));
    assert_eq!(d.constant("X"), Some(1));
    check_error(
        "#define X '\\x100000000'",
        1,
        11,
        "hex escape sequence out of range",
    );
    // Widths and enumerators.
    check_error(
        "struct s { int x : 99999999999; };",
        1,
        20,
        "bit-field width must be a non-negative integer constant",
    );
    check_error(
        "struct s { long x : 65; };",
        1,
        17,
        "width of bit-field 'x' (65 bits) exceeds its type (64 bits)",
    );
    check_error(
        "enum e { A = 18446744073709551615, B };",
        1,
        36,
        "enumerator value overflows",
    );
    check_error(
        "enum e { A = -1, B = 18446744073709551615 };",
        1,
        6,
        "invalid layout of enum e: values from -1 to 18446744073709551615 fit no integer type",
    );
    // Constant expressions: arithmetic overflow, shifts past the width.
    check_error(
        "#define X (9223372036854775807L + 1)",
        1,
        33,
        "integer overflow in constant expression",
    );
    check_error(
        "#define X (1L << 64)",
        1,
        15,
        "shift count out of range in constant expression",
    );
}

#[test]
fn more_nesting_is_capped() {
    let too_deep = "nesting too deep (more than 100 levels)";
    // Conditional expressions nest to the right.
    let err = parse_err(&format!("#define X {}1", "1 ? 1 : ".repeat(50_000)));
    assert_eq!(err.message, too_deep);
    // sizeof inside array sizes inside sizeof ...
    let err = parse_err(&format!(
        "#define X {}1{}",
        "sizeof(char[".repeat(50_000),
        "])".repeat(50_000)
    ));
    assert_eq!(err.message, too_deep);
    // Struct bodies in parameter lists in struct bodies ...
    let err = parse_err(&"struct { void (*f)(struct { int x; ".repeat(50_000));
    assert_eq!(err.message, too_deep);
    // parse_type: the same limits.
    let d = Declarations::new();
    assert_eq!(
        d.parse_type(&"(".repeat(100_000)).unwrap_err().message,
        "expected a type name"
    );
    assert_eq!(
        d.parse_type(&format!("int{}", "(*".repeat(100_000)))
            .unwrap_err()
            .message,
        too_deep
    );
}

#[test]
fn types_with_shared_parts_are_capped() {
    // Each typedef uses the one before twice: 2^n parts after n lines.
    let chain = |n: usize, prefix: &str| {
        let mut src = format!("typedef void (*{prefix}0)(void);\n");
        for i in 1..=n {
            src.push_str(&format!(
                "typedef void (*{prefix}{i})({prefix}{p}, {prefix}{p});\n",
                p = i - 1
            ));
        }
        src
    };
    check_error(
        &chain(60, "f"),
        15,
        26,
        "type too large (more than 65536 pointer, array, function and base types, counting each use of a typedef)",
    );
    // Below the limit, everything that walks such a type stays fast:
    // spelling it, redeclaring it, comparing it with an equal type built
    // separately (which shares none of its parts).
    within_30s(move || {
        let mut src = chain(13, "f") + &chain(13, "g");
        src.push_str("typedef f13 same; typedef g13 same; typedef f13 same;\n");
        src.push_str(&chain(13, "f"));
        let d = parse(&src);
        let spelled = d.typedef("same").unwrap().to_string();
        // f0 spells `void` twice, each f(i) once and f(i-1) twice.
        assert_eq!(spelled.matches("void").count(), 3 * (1 << 13) - 1);
        assert!(!spelled.contains('…'));
    });
    // Anonymous structs are compared member by member when redeclared:
    // with shared parts remembered, 50 doubling levels take no time.
    within_30s(|| {
        let mut src = String::from("typedef struct { int x; } A0; typedef struct { int x; } B0;\n");
        for i in 1..=50 {
            src.push_str(&format!(
                "typedef struct {{ A{p} a, b; }} A{i}; typedef struct {{ B{p} a, b; }} B{i};\n",
                p = i - 1
            ));
        }
        src.push_str("typedef A50 T; typedef B50 T;\n");
        let d = parse(&src);
        assert_eq!(d.typedef("T").unwrap().size().unwrap(), 4 << 50);
    });
}

#[test]
fn spellings_are_bounded() {
    // A type built through the API with 2^64 paths.
    let mut ty = CType::pointer_to(CType::Function(std::sync::Arc::new(FunctionType {
        ret: CType::Void,
        params: vec![],
        variadic: false,
    })));
    for _ in 0..64 {
        ty = CType::pointer_to(CType::Function(std::sync::Arc::new(FunctionType {
            ret: CType::Void,
            params: vec![ty.clone(), ty],
            variadic: false,
        })));
    }
    let spelled = within_30s(move || ty.to_string());
    assert!(
        spelled.len() < CType::MAX_SPELLING + 64 * 200,
        "{}",
        spelled.len()
    );
    assert!(spelled.contains('…'));
    // A name of a million characters, used a thousand times.
    let mut src = format!("typedef struct {} *T;\nvoid f(", "n".repeat(1 << 20));
    src.push_str(&vec!["T"; 1000].join(", "));
    src.push_str(");");
    let d = parse(&src);
    let f = CType::Function(d.function("f").unwrap());
    let spelled = within_30s(move || f.to_string());
    assert!(spelled.len() < 3 << 20, "{}", spelled.len());
}

#[test]
fn errors_on_long_lines_show_a_window() {
    let src = format!("int {} x;", "a".repeat(1000));
    let err = parse_err(&src);
    assert_eq!((err.line, err.column), (1, 1006));
    let rendered = err.to_string();
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines[0], "line 1:1006: expected ';' after declaration");
    assert_eq!(lines[1], format!("…{} x;", "a".repeat(157)));
    assert_eq!(lines[2], format!("{}^", " ".repeat(159)));
    let caret = lines[2].len() - 1;
    assert_eq!(lines[1].chars().nth(caret), Some('x'));
}

// ---- layouts against gcc ----

/// Compiles `c_source` with gcc and runs it, returning its standard output.
fn run_c(c_source: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("layout.c");
    let exe = dir.path().join("layout");
    std::fs::write(&src, c_source).unwrap();
    let out = Command::new("gcc")
        .args(["-std=gnu11", "-w", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("gcc is needed for the layout tests (cargo xtask installs it)");
    assert!(
        out.status.success(),
        "gcc failed:\n{}\n{c_source}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    String::from_utf8(run.stdout).unwrap()
}

/// Every named member of a record, looking into anonymous members: name,
/// offset, bitfield.
fn member_layouts(ty: &CType) -> Vec<(String, usize, Option<BitField>)> {
    fn walk(ty: &CType, base: usize, out: &mut Vec<(String, usize, Option<BitField>)>) {
        let CType::Record(r) = ty else { return };
        for f in &r.body().unwrap().fields {
            match &f.name {
                Some(n) => out.push((n.clone(), base + f.offset, f.bits)),
                None if f.bits.is_none() => walk(&f.ty, base + f.offset, out),
                None => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(ty, 0, &mut out);
    out
}

/// Parses `cdef` with `packing`, has gcc lay out the same declarations,
/// and compares sizes, alignments, member offsets and bitfield positions
/// (found by setting each bitfield to all ones in a zeroed object).
fn compare_with_gcc(cdef: &str, packing: Packing) {
    let mut d = Declarations::new();
    d.parse_with(cdef, ParseOptions::default().with_packing(packing))
        .unwrap();
    let c_decls = match packing {
        Packing::Natural => cdef.to_string(),
        Packing::Pack(n) => format!("#pragma pack(push, {n})\n{cdef}\n#pragma pack(pop)\n"),
        Packing::Packed => cdef
            .replace("struct ", "struct __attribute__((packed)) ")
            .replace("union ", "union __attribute__((packed)) "),
    };
    let mut c = format!(
        "#include <stdio.h>\n#include <stddef.h>\n#include <string.h>\n#include <uchar.h>\n{c_decls}\n\
         static void dump(const char *what, const unsigned char *p, size_t n) {{\n\
           printf(\"%s\", what);\n\
           for (size_t i = 0; i < n; i++) printf(\" %02x\", p[i]);\n\
           printf(\"\\n\");\n\
         }}\n\
         int main(void) {{\n"
    );
    let mut expected = String::new();
    for (kind, name, ty) in d.tags() {
        let kw = match kind {
            TagKind::Struct => "struct",
            TagKind::Union => "union",
            TagKind::Enum => "enum",
        };
        let cname = format!("{kw} {name}");
        c.push_str(&format!(
            "  printf(\"{cname} %zu %zu\\n\", sizeof({cname}), _Alignof({cname}));\n"
        ));
        expected.push_str(&format!(
            "{cname} {} {}\n",
            ty.size().unwrap(),
            ty.align().unwrap()
        ));
        if kind == TagKind::Enum {
            continue;
        }
        let size = ty.size().unwrap();
        for (member, offset, bits) in member_layouts(ty) {
            match bits {
                None => {
                    c.push_str(&format!(
                        "  printf(\"{cname}.{member} %zu\\n\", offsetof({cname}, {member}));\n"
                    ));
                    expected.push_str(&format!("{cname}.{member} {offset}\n"));
                }
                Some(b) => {
                    c.push_str(&format!(
                        "  {{ {cname} v; memset(&v, 0, sizeof v); v.{member} = -1; \
                         dump(\"{cname}.{member}\", (const unsigned char *)&v, sizeof v); }}\n"
                    ));
                    let mut bytes = vec![0u8; size];
                    for bit in 0..b.width as usize {
                        let at = offset * 8 + b.shift as usize + bit;
                        bytes[at / 8] |= 1 << (at % 8);
                    }
                    expected.push_str(&format!("{cname}.{member}"));
                    for byte in bytes {
                        expected.push_str(&format!(" {byte:02x}"));
                    }
                    expected.push('\n');
                }
            }
        }
    }
    c.push_str("  return 0;\n}\n");
    let actual = run_c(&c);
    for (want, got) in expected.lines().zip(actual.lines()) {
        assert_eq!(got, want, "packing {packing:?}, declarations:\n{cdef}");
    }
    assert_eq!(expected.lines().count(), actual.lines().count());
}

const LAYOUT_DECLS: &str = "
struct simple { char c; double d; short s; };
struct bits { unsigned a : 3; unsigned b : 5; int c : 30; unsigned : 0; char d;
              unsigned short e : 9; _Bool f : 1; long long g : 40; };
struct mixed_bits { char a; int b : 30; unsigned char c : 3; unsigned char : 2;
                    unsigned char d : 3; short e : 7; };
struct zero { char a; int : 0; char b; };
struct nested { struct simple s; union { int i; float f; struct { char x, y; }; }; char tail[3]; };
struct flex { int n; char c; double data[]; };
union u { char c[5]; int i; long double ld; };
struct with_fp { int (*cb)(int, void *); void (*arr[3])(void); const char *name;
                 enum color { RED, GREEN = 5, BLUE } col; char after; };
typedef struct { unsigned char r, g, b; } rgb_t;
struct arr2 { rgb_t px[2][3]; short z; };
struct deep { struct { struct { char k; long long v; } in; int w; } mid; char end; };
struct wide { wchar_t w; char16_t c16; char32_t c32; _Bool b; long double ld; };
enum big { BIG = 0x100000000 };
";

#[test]
fn layouts_match_gcc() {
    for packing in [
        Packing::Natural,
        Packing::Packed,
        Packing::Pack(1),
        Packing::Pack(2),
        Packing::Pack(4),
    ] {
        compare_with_gcc(LAYOUT_DECLS, packing);
    }
}

// ---- robustness ----

const VOCABULARY: &[&str] = &[
    "int",
    "char",
    "void",
    "long",
    "short",
    "unsigned",
    "signed",
    "double",
    "float",
    "_Bool",
    "struct",
    "union",
    "enum",
    "typedef",
    "extern",
    "static",
    "const",
    "volatile",
    "restrict",
    "sizeof",
    "x",
    "y",
    "T",
    "foo",
    "size_t",
    "FILE",
    "N",
    "0",
    "1",
    "-1",
    "0x7fffffff",
    "0xffffffffffffffff",
    "'a'",
    "'\\x",
    "\"s\"",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ";",
    ",",
    "*",
    ":",
    "=",
    "...",
    "+",
    "-",
    "~",
    "!",
    "/",
    "%",
    "<<",
    ">>",
    "<",
    ">",
    "==",
    "&&",
    "||",
    "&",
    "|",
    "^",
    "?",
    "#",
    "\n#define",
    "\n#define N",
    "\n#",
    "\n",
    "/*",
    "*/",
    "//",
    "\\\n",
    "@",
    "é",
    "\t",
    "9999999999999999999999",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 0..80).prop_map(|tokens| {
        let mut s = String::new();
        for t in tokens {
            s.push_str(t);
            s.push(' ');
        }
        s
    })
}

/// A namespace with something of every kind, for inputs to refer to.
fn populated() -> Declarations {
    parse(
        "#define N 3\ntypedef int T; struct foo { int a; }; struct opaque; enum e { E1 };
         int x; int f(int);",
    )
}

fn check_error_shape(src: &str, err: &ParseError) {
    let lines = src.split('\n').count();
    assert!(err.line >= 1 && err.line <= lines, "{err:?} for {src:?}");
    assert!(err.column >= 1, "{err:?}");
    assert!(!err.message.is_empty());
    let _ = err.to_string();
}

fn exercise(src: &str) {
    let mut d = Declarations::new();
    if let Err(e) = d.parse(src) {
        check_error_shape(src, &e);
    }
    let mut d = populated();
    for options in [
        ParseOptions::default(),
        ParseOptions::default()
            .with_override(true)
            .with_packing(Packing::Pack(2)),
    ] {
        if let Err(e) = d.parse_with(src, options) {
            check_error_shape(src, &e);
        }
    }
    if let Err(e) = d.parse_type(src) {
        check_error_shape(src, &e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup_never_panics(src in soup()) {
        exercise(&src);
    }

    #[test]
    fn mutated_declarations_never_panic(
        cut in 0usize..400,
        len in 0usize..20,
        insert in prop::sample::select(VOCABULARY),
    ) {
        let mut src = LAYOUT_DECLS.to_string();
        let cut = cut.min(src.len());
        let end = (cut + len).min(src.len());
        if src.is_char_boundary(cut) && src.is_char_boundary(end) {
            src.replace_range(cut..end, insert);
        }
        exercise(&src);
    }
}

#[test]
fn record_kind_of_tags() {
    let d = parse("struct s { int a; }; union u { int a; };");
    let CType::Record(s) = d.tag(TagKind::Struct, "s").unwrap() else {
        panic!()
    };
    assert_eq!(s.kind(), RecordKind::Struct);
    let CType::Record(u) = d.tag(TagKind::Union, "u").unwrap() else {
        panic!()
    };
    assert_eq!(u.kind(), RecordKind::Union);
}

#[test]
fn anonymous_types_are_spelt_by_their_first_typedef() {
    let d = parse(
        "typedef struct { int quot, rem; } div_t, other_t;
         typedef enum { A, B } letter_t;
         typedef struct named { int x; } named_t;
         typedef div_t *div_p;
         struct holder { struct { int a; } inner; };",
    );
    assert_eq!(d.typedef("div_t").unwrap().to_string(), "div_t");
    assert_eq!(d.typedef("other_t").unwrap().to_string(), "div_t");
    assert_eq!(d.typedef("div_p").unwrap().to_string(), "div_t *");
    assert_eq!(d.typedef("letter_t").unwrap().to_string(), "letter_t");
    assert_eq!(d.typedef("named_t").unwrap().to_string(), "struct named");
    let holder = d.tag(TagKind::Struct, "holder").unwrap();
    let CType::Record(holder) = holder else {
        panic!("not a record")
    };
    let inner = &holder.body().unwrap().fields[0].ty;
    assert_eq!(inner.to_string(), "struct $anonymous");
}

#[test]
fn windows_calling_conventions_are_ignored() {
    let mut d = Declarations::new();
    d.parse(
        "double __stdcall sin(double x);\n\
         int __cdecl abs(int);\n\
         typedef int (__stdcall *callback_t)(int);",
    )
    .unwrap();
    assert_eq!(d.function("sin").unwrap().params.len(), 1);
    assert_eq!(
        d.typedef("callback_t").unwrap(),
        d.parse_type("int (*)(int)").unwrap()
    );
    assert!(
        d.parse("int __stdcall;").is_err(),
        "still needs a declarator"
    );
}

#[test]
fn bool_is_predeclared_and_may_be_declared_again() {
    let mut d = Declarations::new();
    d.parse("bool f(bool);").unwrap();
    assert_eq!(d.function("f").unwrap().ret, CType::Scalar(CScalar::Bool));
    let mut own = Declarations::new();
    own.parse("typedef int bool; bool g(void);").unwrap();
    assert_eq!(own.function("g").unwrap().ret, CType::Scalar(CScalar::Int));
    assert_eq!(
        own.parse_type("_Bool").unwrap(),
        CType::Scalar(CScalar::Bool)
    );
}
