//! C source for the cases, and the byte patterns both sides agree on.
//!
//! Every argument value gets a distinctive pattern: byte `b` of argument `a`
//! is `0xAB` — the argument index in the high nibble, the byte's offset in
//! the value in the low nibble — so a slipped field or swapped argument is
//! visible at a glance. Padding is `0xEE`. Float leaves have their exponent's
//! top bit cleared so no pattern is a NaN (a promotion would quieten it).

use std::fmt::Write as _;

use ffi_raw::{CScalar, Type};

use crate::corpus::{Case, Leaf, Ty};

/// Pattern tag of the return value (argument tags are 0..=15).
pub const RET_TAG: usize = 0xF;

/// The bytes of a value of `ty` tagged `tag`.
pub fn pattern(ty: &Ty, tag: usize) -> Vec<u8> {
    let mut bytes = vec![0xEEu8; ty.size()];
    for leaf in ty.leaves() {
        let size = leaf.scalar.raw_type().size();
        for j in 0..size {
            bytes[leaf.offset + j] = (((tag & 0xF) << 4) | ((leaf.offset + j) & 0xF)) as u8;
        }
        let b = &mut bytes[leaf.offset..leaf.offset + size];
        match leaf.scalar {
            CScalar::Bool => b[0] = tag.is_multiple_of(2) as u8,
            CScalar::Float => b[3] &= !0x40,
            CScalar::Double => b[7] &= !0x40,
            CScalar::LongDouble => {
                b[7] |= 0x80; // explicit integer bit: a normal x87 value
                b[9] &= !0x40;
            }
            _ => {}
        }
    }
    bytes
}

/// What the callee records for one argument: each leaf's value bytes in
/// order, after the default promotions if the argument is variadic.
pub fn expected_record(ty: &Ty, pattern: &[u8], variadic: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for leaf in ty.leaves() {
        let v = &pattern[leaf.offset..];
        if variadic && matches!(ty, Ty::Scalar(_)) {
            match leaf.scalar.raw_type() {
                Type::F32 => {
                    let f = f32::from_le_bytes(v[..4].try_into().unwrap());
                    out.extend((f as f64).to_le_bytes());
                    continue;
                }
                Type::I8 => out.extend((v[0] as i8 as i32).to_le_bytes()),
                Type::U8 => out.extend((v[0] as i32).to_le_bytes()),
                Type::I16 => out.extend((i16::from_le_bytes([v[0], v[1]]) as i32).to_le_bytes()),
                Type::U16 => out.extend((u16::from_le_bytes([v[0], v[1]]) as i32).to_le_bytes()),
                _ => out.extend(&v[..leaf.value_size()]),
            }
            continue;
        }
        out.extend(&v[..leaf.value_size()]);
    }
    out
}

/// Names for a case's C identifiers.
pub fn callee(k: usize) -> String {
    format!("c{k}_callee")
}
pub fn record(k: usize) -> String {
    format!("c{k}_record")
}
pub fn caller(k: usize) -> String {
    format!("c{k}_caller")
}

pub const PRELUDE: &str = "#include <stdarg.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n#include <sys/types.h>\n#include <uchar.h>\n#include <wchar.h>\n\n";

/// Declares the struct types `ty` needs (into `defs`) and returns its C name.
fn declare(ty: &Ty, k: usize, counter: &mut usize, defs: &mut String) -> String {
    match ty {
        Ty::Scalar(s) => s.c_name().to_string(),
        Ty::Struct(fields) => {
            let members: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| match f {
                    Ty::Array(elem, n) => {
                        format!("{} f{i}[{n}];", declare(elem, k, counter, defs))
                    }
                    other => format!("{} f{i};", declare(other, k, counter, defs)),
                })
                .collect();
            let name = format!("struct c{k}_s{counter}");
            *counter += 1;
            writeln!(defs, "{name} {{ {} }};", members.join(" ")).unwrap();
            name
        }
        Ty::Array(..) => unreachable!("arrays are struct fields only"),
    }
}

fn bytes_literal(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(|b| format!("0x{b:02x}")).collect();
    format!("{{{}}}", items.join(","))
}

fn record_leaves(out: &mut String, var: &str, leaves: &[Leaf], pos: &mut usize, rec: &str) {
    for leaf in leaves {
        let n = leaf.value_size();
        writeln!(
            out,
            "  memcpy({rec} + {pos}, (const char *)&{var}{}, {n});",
            leaf.path
        )
        .unwrap();
        *pos += n;
    }
}

/// The C source of case `k`: its struct types, a callee that records what it
/// receives and returns the return pattern, and (for fixed-arity cases) a
/// caller that passes the argument patterns to a function pointer and checks
/// the returned value leaf by leaf, returning 0 or 1 + the bad leaf's index.
pub fn case_source(k: usize, case: &Case) -> String {
    let mut defs = String::new();
    let mut counter = 0;
    let arg_names: Vec<String> = case
        .args
        .iter()
        .map(|a| declare(a, k, &mut counter, &mut defs))
        .collect();
    let ret_name = match &case.ret {
        Some(t) => declare(t, k, &mut counter, &mut defs),
        None => "void".to_string(),
    };
    let nfixed = case.fixed.unwrap_or(case.args.len());
    let mut src = defs;

    // Patterns, as static data.
    for (i, arg) in case.args.iter().enumerate() {
        writeln!(
            src,
            "static const unsigned char c{k}_arg{i}[] = {};",
            bytes_literal(&pattern(arg, i))
        )
        .unwrap();
    }
    if let Some(ret) = &case.ret {
        writeln!(
            src,
            "static const unsigned char c{k}_ret[] = {};",
            bytes_literal(&pattern(ret, RET_TAG))
        )
        .unwrap();
    }

    // The callee.
    let record_len: usize = case
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| expected_record(a, &pattern(a, i), i >= nfixed).len())
        .sum();
    let rec = record(k);
    writeln!(src, "unsigned char {rec}[{}];", record_len.max(1)).unwrap();
    let mut params: Vec<String> = (0..nfixed)
        .map(|i| format!("{} a{i}", arg_names[i]))
        .collect();
    if case.fixed.is_some() {
        params.push("...".to_string());
    }
    if params.is_empty() {
        params.push("void".to_string());
    }
    writeln!(src, "{ret_name} {}({}) {{", callee(k), params.join(", ")).unwrap();
    let mut pos = 0;
    for (i, arg) in case.args.iter().enumerate().take(nfixed) {
        record_leaves(&mut src, &format!("a{i}"), &arg.leaves(), &mut pos, &rec);
    }
    if case.fixed.is_some() {
        writeln!(src, "  va_list ap;\n  va_start(ap, a{});", nfixed - 1).unwrap();
        for (i, arg) in case.args.iter().enumerate().skip(nfixed) {
            let promoted = arg.promoted();
            let name = if promoted == *arg {
                arg_names[i].clone()
            } else {
                declare(&promoted, k, &mut counter, &mut String::new())
            };
            writeln!(src, "  {name} v{i} = va_arg(ap, {name});").unwrap();
            record_leaves(
                &mut src,
                &format!("v{i}"),
                &promoted.leaves(),
                &mut pos,
                &rec,
            );
        }
        writeln!(src, "  va_end(ap);").unwrap();
    }
    if case.ret.is_some() {
        writeln!(
            src,
            "  {ret_name} r;\n  memcpy(&r, c{k}_ret, sizeof r);\n  return r;"
        )
        .unwrap();
    }
    writeln!(src, "}}").unwrap();

    // The caller, for the reverse direction.
    if case.fixed.is_none() {
        let fp_params = if arg_names.is_empty() {
            "void".to_string()
        } else {
            arg_names.join(", ")
        };
        writeln!(src, "int {}({ret_name} (*fp)({fp_params})) {{", caller(k)).unwrap();
        for (i, name) in arg_names.iter().enumerate() {
            writeln!(
                src,
                "  {name} a{i};\n  memcpy(&a{i}, c{k}_arg{i}, sizeof a{i});"
            )
            .unwrap();
        }
        let call_args: Vec<String> = (0..arg_names.len()).map(|i| format!("a{i}")).collect();
        match &case.ret {
            Some(ret) => {
                writeln!(src, "  {ret_name} r = fp({});", call_args.join(", ")).unwrap();
                for (j, leaf) in ret.leaves().iter().enumerate() {
                    writeln!(
                        src,
                        "  if (memcmp((const char *)&r{}, c{k}_ret + {}, {})) return {};",
                        leaf.path,
                        leaf.offset,
                        leaf.value_size(),
                        j + 1
                    )
                    .unwrap();
                }
            }
            None => writeln!(src, "  fp({});", call_args.join(", ")).unwrap(),
        }
        writeln!(src, "  return 0;\n}}").unwrap();
    }
    src
}
