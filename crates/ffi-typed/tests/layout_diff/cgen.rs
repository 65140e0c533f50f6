//! C source for a batch of cases: the definitions, and a function per case
//! that prints gcc's answer to each probe as `case probe value...`.
//!
//! Nothing here uses ffi-typed: sizes, alignments and offsets come from
//! `sizeof`, `_Alignof` and `offsetof`; a bitfield's position from setting
//! it to -1 (all ones) in a zeroed object and finding the bits that changed.

use std::fmt::Write as _;

use ffi_typed::Packing;

use crate::model::{Case, IntTy, Member, Probe, Rec, Ty};

pub const PRELUDE: &str = r#"#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <uchar.h>
#include <wchar.h>

static void pr(int k, int n, long long v) { printf("%d %d %lld\n", k, n, v); }

static void pr_value(int k, int n, int negative, long long s, unsigned long long u) {
    if (negative) printf("%d %d %lld\n", k, n, s);
    else printf("%d %d %llu\n", k, n, u);
}

/* The set bits of an object: lowest, how many, highest (-1 if none). */
static void pr_bits(int k, int n, const void *p, size_t size) {
    const unsigned char *b = p;
    long lo = -1, hi = -1, count = 0;
    for (size_t i = 0; i < size * 8; i++)
        if ((b[i / 8] >> (i % 8)) & 1) {
            if (lo < 0) lo = (long)i;
            hi = (long)i;
            count++;
        }
    printf("%d %d %ld %ld %ld\n", k, n, lo, count, hi);
}

#define ENUM_TYPE(T) _Generic((T)0, int: 0, unsigned int: 1, long: 2, unsigned long: 3, \
    long long: 4, unsigned long long: 5, default: 99)

"#;

fn enum_tag(k: usize, i: usize) -> String {
    format!("enum c{k}_e{i}")
}

fn enumerator(k: usize, i: usize, j: usize) -> String {
    format!("c{k}_e{i}_{j}")
}

pub fn record_tag(k: usize, rec: &Rec) -> String {
    let kw = if rec.union { "union" } else { "struct" };
    format!("{kw} c{k}_r{}", rec.id)
}

/// A C integer constant of value `v`, typed as C would type the decimal
/// literal (`int`, then `long`; `unsigned long long` beyond `LONG_MAX`).
fn literal(v: i128) -> String {
    if v == i32::MIN as i128 {
        "(-2147483647-1)".into()
    } else if v == i64::MIN as i128 {
        "(-9223372036854775807L-1)".into()
    } else if v > i64::MAX as i128 {
        format!("{v}ULL")
    } else {
        format!("{v}")
    }
}

/// The declaration of `name` with type `ty` (`prefix_dims` go right after
/// the name, for a flexible array's `[]`).
fn declare(k: usize, ty: &Ty, name: &str, prefix_dims: &str) -> String {
    let mut dims = prefix_dims.to_string();
    let mut t = ty;
    while let Ty::Array(elem, n) = t {
        write!(dims, "[{n}]").unwrap();
        t = elem;
    }
    let base = match t {
        Ty::Scalar(s) => s.c_name().to_string(),
        Ty::Pointer => "void *".into(),
        Ty::Enum(i) => enum_tag(k, *i),
        Ty::Rec(r) => record_tag(k, r),
        Ty::Array(..) => unreachable!(),
    };
    format!("{base} {name}{dims}")
}

fn int_ty(k: usize, ty: IntTy) -> String {
    match ty {
        IntTy::Scalar(s) => s.c_name().to_string(),
        IntTy::Enum(i) => enum_tag(k, i),
    }
}

/// `struct`/`union`, with the packed and ms_struct attributes it has.
fn keyword(rec: &Rec) -> String {
    let kw = if rec.union { "union" } else { "struct" };
    match (rec.packing, rec.ms) {
        (Packing::Packed, true) => format!("{kw} __attribute__((packed, ms_struct))"),
        (Packing::Packed, false) => format!("{kw} __attribute__((packed))"),
        (_, true) => format!("{kw} __attribute__((ms_struct))"),
        (_, false) => kw.to_string(),
    }
}

fn body(k: usize, rec: &Rec, indent: &str, out: &mut String) {
    out.push_str("{\n");
    for m in &rec.members {
        out.push_str(indent);
        out.push_str("    ");
        match m {
            Member::Field { ty, name } => out.push_str(&declare(k, ty, name, "")),
            Member::Flex { elem, name } => out.push_str(&declare(k, elem, name, "[]")),
            Member::Bits { ty, width, name } => write!(
                out,
                "{} {}: {width}",
                int_ty(k, *ty),
                name.as_deref().unwrap_or("")
            )
            .unwrap(),
            Member::Anon(r) => {
                write!(out, "{} ", keyword(r)).unwrap();
                body(k, r, &format!("{indent}    "), out);
            }
        }
        out.push_str(";\n");
    }
    out.push_str(indent);
    out.push('}');
}

/// Defines the tagged records `rec` needs, then `rec` itself.
fn define_record(k: usize, rec: &Rec, out: &mut String) {
    fn needs(k: usize, ty: &Ty, out: &mut String) {
        match ty {
            Ty::Array(elem, _) => needs(k, elem, out),
            Ty::Rec(r) => define_record(k, r, out),
            _ => {}
        }
    }
    fn inner(k: usize, rec: &Rec, out: &mut String) {
        for m in &rec.members {
            match m {
                Member::Field { ty, .. } | Member::Flex { elem: ty, .. } => needs(k, ty, out),
                Member::Anon(r) => inner(k, r, out),
                Member::Bits { .. } => {}
            }
        }
    }
    inner(k, rec, out);
    if let Packing::Pack(n) = rec.packing {
        writeln!(out, "#pragma pack(push, {n})").unwrap();
    }
    let kw = keyword(rec);
    let tag = record_tag(k, rec);
    let name = tag.split(' ').nth(1).unwrap();
    write!(out, "{kw} {name} ").unwrap();
    body(k, rec, "", out);
    out.push_str(";\n");
    if let Packing::Pack(_) = rec.packing {
        out.push_str("#pragma pack(pop)\n");
    }
}

/// The definitions of a case (enums, then records innermost first).
pub fn definitions(k: usize, case: &Case) -> String {
    let mut out = String::new();
    for (i, e) in case.enums.iter().enumerate() {
        write!(out, "{} {{ ", enum_tag(k, i)).unwrap();
        for (j, item) in e.items.iter().enumerate() {
            out.push_str(&enumerator(k, i, j));
            if let Some(v) = item {
                write!(out, " = {}", literal(*v)).unwrap();
            }
            out.push_str(", ");
        }
        out.push_str("};\n");
    }
    define_record(k, &case.top, &mut out);
    out
}

fn has_flex(rec: &Rec) -> bool {
    matches!(rec.members.last(), Some(Member::Flex { .. }))
}

/// The case's definitions and its probe function `case{k}`.
pub fn case_source(k: usize, case: &Case) -> String {
    let mut out = format!("/* case {k}: {} */\n", case.to_line());
    out.push_str(&definitions(k, case));
    let tag = record_tag(k, &case.top);
    // The object lives in a zeroable buffer with room for two elements of a
    // flexible array member, so bitfields inside its first element can be
    // probed too.
    let room = match case.top.members.last() {
        Some(Member::Flex { name, .. }) if has_flex(&case.top) => {
            format!(" + 2 * sizeof(((({tag} *)0)->{name}[0]))")
        }
        _ => String::new(),
    };
    writeln!(
        out,
        "static void case{k}(void) {{\n    static _Alignas(64) unsigned char store[sizeof({tag}){room}];\n    {tag} *const p = ({tag} *)(void *)store;\n    (void)p;"
    )
    .unwrap();
    for (n, probe) in case.probes().iter().enumerate() {
        out.push_str("    ");
        match probe {
            Probe::EnumSize(i) => {
                write!(out, "pr({k}, {n}, (long long)sizeof({}));", enum_tag(k, *i)).unwrap()
            }
            Probe::EnumSigned(i) => {
                write!(out, "pr({k}, {n}, ({})-1 < 0);", enum_tag(k, *i)).unwrap()
            }
            Probe::EnumType(i) => {
                write!(out, "pr({k}, {n}, ENUM_TYPE({}));", enum_tag(k, *i)).unwrap()
            }
            Probe::EnumValue(i, j) => {
                let c = enumerator(k, *i, *j);
                write!(
                    out,
                    "pr_value({k}, {n}, {c} < 0, (long long){c}, (unsigned long long){c});"
                )
                .unwrap()
            }
            Probe::Size(path) if path.0.is_empty() => {
                write!(out, "pr({k}, {n}, (long long)sizeof({tag}));").unwrap()
            }
            Probe::Align(path) if path.0.is_empty() => {
                write!(out, "pr({k}, {n}, (long long)_Alignof({tag}));").unwrap()
            }
            Probe::Size(path) => write!(
                out,
                "pr({k}, {n}, (long long)sizeof((*p){}));",
                path.suffix()
            )
            .unwrap(),
            Probe::Align(path) => write!(
                out,
                "pr({k}, {n}, (long long)_Alignof(__typeof__((*p){})));",
                path.suffix()
            )
            .unwrap(),
            Probe::Offset(path) => write!(
                out,
                "pr({k}, {n}, (long long)offsetof({tag}, {}));",
                path.designator()
            )
            .unwrap(),
            Probe::Bits(path) => write!(
                out,
                "memset(store, 0, sizeof store); (*p){} = -1; pr_bits({k}, {n}, store, sizeof store);",
                path.suffix()
            )
            .unwrap(),
        }
        out.push('\n');
    }
    out.push_str("}\n\n");
    out
}

/// A whole program for these cases (`(k, case)`: k names the case).
pub fn program<'a>(cases: impl IntoIterator<Item = (usize, &'a Case)> + Clone) -> String {
    let mut out = PRELUDE.to_string();
    for (k, case) in cases.clone() {
        out.push_str(&case_source(k, case));
    }
    out.push_str("int main(void) {\n");
    for (k, _) in cases {
        writeln!(out, "    case{k}();").unwrap();
    }
    out.push_str("    return 0;\n}\n");
    out
}
