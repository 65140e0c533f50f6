//! The ffi-typed side: builds each case with `CType::new_record` /
//! `CType::complete` and `EnumType::new`, answers the probes from the
//! computed layout, and compares with what gcc printed.

use std::fmt::Write as _;
use std::sync::Arc;

use ffi_raw::CScalar;
use ffi_typed::{BitfieldRules, CType, EnumType, FieldDecl, RecordKind};

use crate::cgen::record_tag;
use crate::model::{Case, IntTy, Member, Probe, Rec, Step, Ty};

/// A case as ffi-typed types.
pub struct Built {
    pub top: CType,
    pub enums: Vec<Arc<EnumType>>,
}

pub fn build(k: usize, case: &Case) -> Result<Built, String> {
    let enums = case
        .enums
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let values = e
                .values()
                .into_iter()
                .enumerate()
                .map(|(j, v)| (format!("c{k}_e{i}_{j}"), v))
                .collect();
            EnumType::new(Some(&format!("c{k}_e{i}")), values)
                .map(Arc::new)
                .map_err(|e| format!("ffi-typed rejects enum e{i}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let top = build_rec(k, &case.top, true, &enums)?;
    Ok(Built { top, enums })
}

fn enum_ty(enums: &[Arc<EnumType>], i: usize) -> Result<CType, String> {
    enums
        .get(i)
        .map(|e| CType::Enum(e.clone()))
        .ok_or_else(|| format!("no enum e{i}"))
}

fn build_ty(k: usize, ty: &Ty, enums: &[Arc<EnumType>]) -> Result<CType, String> {
    Ok(match ty {
        Ty::Scalar(s) => CType::Scalar(*s),
        Ty::Pointer => CType::pointer_to(CType::Void),
        Ty::Enum(i) => enum_ty(enums, *i)?,
        Ty::Array(elem, n) => CType::array_of(build_ty(k, elem, enums)?, Some(*n)),
        Ty::Rec(r) => build_rec(k, r, true, enums)?,
    })
}

fn build_rec(k: usize, rec: &Rec, tagged: bool, enums: &[Arc<EnumType>]) -> Result<CType, String> {
    let kind = if rec.union {
        RecordKind::Union
    } else {
        RecordKind::Struct
    };
    let tag = record_tag(k, rec);
    let name = tagged.then(|| tag.split(' ').nth(1).unwrap().to_string());
    let ty = CType::new_record(kind, name.as_deref());
    let mut decls = Vec::new();
    for m in &rec.members {
        decls.push(match m {
            Member::Field { ty, name } => FieldDecl::new(name, build_ty(k, ty, enums)?),
            Member::Flex { elem, name } => {
                FieldDecl::new(name, CType::array_of(build_ty(k, elem, enums)?, None))
            }
            Member::Bits { ty, width, name } => {
                let ty = match ty {
                    IntTy::Scalar(s) => CType::Scalar(*s),
                    IntTy::Enum(i) => enum_ty(enums, *i)?,
                };
                FieldDecl {
                    name: name.clone(),
                    ty,
                    bit_width: Some(*width),
                }
            }
            Member::Anon(r) => FieldDecl {
                name: None,
                ty: build_rec(k, r, false, enums)?,
                bit_width: None,
            },
        });
    }
    let rules = if rec.ms {
        BitfieldRules::MS
    } else {
        BitfieldRules::SYSV
    };
    ty.complete_with(decls, rec.packing, &rules)
        .map_err(|e| format!("ffi-typed rejects r{}: {e}", rec.id))?;
    Ok(ty)
}

/// What ffi-typed says the object at a path is: its type, byte offset and
/// bitfield position.
fn resolve(
    top: &CType,
    path: &[Step],
) -> Result<(CType, usize, Option<ffi_typed::BitField>), String> {
    let mut ty = top.clone();
    let mut offset = 0;
    let mut bits = None;
    for step in path {
        match step {
            Step::Name(n) => {
                let CType::Record(r) = &ty else {
                    return Err(format!("{ty} has no member {n}"));
                };
                let body = r.body().ok_or_else(|| format!("{ty} is incomplete"))?;
                let (at, field) = body
                    .field(n)
                    .ok_or_else(|| format!("ffi-typed finds no member {n} in {ty}"))?;
                offset += at;
                bits = field.bits;
                ty = field.ty.clone();
            }
            Step::Index(i) => {
                let CType::Array(elem, _) = &ty else {
                    return Err(format!("{ty} is not an array"));
                };
                offset += i * elem.size().map_err(|e| e.to_string())?;
                bits = None;
                ty = (**elem).clone();
            }
        }
    }
    Ok((ty, offset, bits))
}

/// The code `ENUM_TYPE` gives the C type.
fn type_code(s: CScalar) -> i128 {
    match s {
        CScalar::Int => 0,
        CScalar::UInt => 1,
        CScalar::Long => 2,
        CScalar::ULong => 3,
        CScalar::LongLong => 4,
        CScalar::ULongLong => 5,
        _ => 99,
    }
}

/// ffi-typed's answer to a probe, in the form the C side prints it.
pub fn answer(built: &Built, probe: &Probe) -> Result<Vec<i128>, String> {
    let err = |e: ffi_typed::Error| e.to_string();
    Ok(match probe {
        Probe::EnumSize(i) => {
            vec![CType::Enum(built.enums[*i].clone()).size().map_err(err)? as i128]
        }
        Probe::EnumSigned(i) => {
            vec![built.enums[*i].underlying.raw_type().is_signed_integer() as i128]
        }
        Probe::EnumType(i) => vec![type_code(built.enums[*i].underlying)],
        Probe::EnumValue(i, j) => vec![built.enums[*i].values[*j].1],
        Probe::Size(path) => vec![resolve(&built.top, &path.0)?.0.size().map_err(err)? as i128],
        Probe::Align(path) => vec![resolve(&built.top, &path.0)?.0.align().map_err(err)? as i128],
        Probe::Offset(path) => {
            let (_, offset, bits) = resolve(&built.top, &path.0)?;
            if let Some(b) = bits {
                return Err(format!("ffi-typed says it is a bitfield ({b:?})"));
            }
            vec![offset as i128]
        }
        Probe::Bits(path) => {
            let (_, offset, bits) = resolve(&built.top, &path.0)?;
            let b = bits.ok_or("ffi-typed says it is not a bitfield")?;
            let lo = offset as i128 * 8 + b.shift as i128;
            vec![lo, b.width as i128, lo + b.width as i128 - 1]
        }
    })
}

fn show(v: &[i128]) -> String {
    v.iter().map(i128::to_string).collect::<Vec<_>>().join(" ")
}

/// Compares gcc's output for a case (one line of values per probe) with
/// ffi-typed; returns every disagreement.
pub fn compare(k: usize, case: &Case, gcc: &[Vec<i128>]) -> Vec<String> {
    let built = match build(k, case) {
        Ok(b) => b,
        Err(e) => return vec![e],
    };
    let probes = case.probes();
    if gcc.len() != probes.len() {
        return vec![format!(
            "gcc answered {} probes, not {}",
            gcc.len(),
            probes.len()
        )];
    }
    let mut out = Vec::new();
    for (probe, got) in probes.iter().zip(gcc) {
        match answer(&built, probe) {
            Ok(ours) if ours == *got => {}
            Ok(ours) => out.push(format!(
                "{}: gcc {}, ffi-typed {}",
                probe.describe(),
                show(got),
                show(&ours)
            )),
            Err(e) => out.push(format!(
                "{}: gcc {}, ffi-typed: {e}",
                probe.describe(),
                show(got)
            )),
        }
    }
    out
}

/// ffi-typed's layout of the case, for a failure report.
pub fn describe(k: usize, case: &Case) -> String {
    let built = match build(k, case) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let mut out = String::new();
    for (i, e) in built.enums.iter().enumerate() {
        writeln!(
            out,
            "enum e{i}: underlying {} (values {:?})",
            e.underlying.c_name(),
            e.values.iter().map(|v| v.1).collect::<Vec<_>>()
        )
        .unwrap();
    }
    describe_record(&built.top, "o", 0, &mut out);
    out
}

fn describe_record(ty: &CType, what: &str, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let CType::Record(r) = ty else { return };
    let Some(body) = r.body() else {
        writeln!(out, "{pad}{what}: {ty} (incomplete)").unwrap();
        return;
    };
    writeln!(
        out,
        "{pad}{what}: {ty}, {:?}: size {}, align {}",
        body.packing, body.size, body.align
    )
    .unwrap();
    for f in &body.fields {
        let name = f.name.as_deref().unwrap_or("(unnamed)");
        let place = match f.bits {
            Some(b) => format!(
                "byte {} bit {} width {} (bits {}..{} of the object)",
                f.offset,
                b.shift,
                b.width,
                f.offset * 8 + b.shift as usize,
                f.offset * 8 + (b.shift + b.width) as usize
            ),
            None => format!("offset {}", f.offset),
        };
        writeln!(out, "{pad}  {name}: {} at {place}", f.ty).unwrap();
        let mut inner = &f.ty;
        while let CType::Array(elem, _) = inner {
            inner = elem;
        }
        if matches!(inner, CType::Record(_)) {
            describe_record(inner, name, depth + 2, out);
        }
    }
}
