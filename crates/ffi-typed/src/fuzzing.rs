//! Entry points for the fuzz targets in `fuzz/` and the corpus replay test.
//! Not part of the stable API.

use ffi_raw::CScalar;

use crate::ctype::{CType, RecordKind};
use crate::layout::{FieldDecl, Packing};
use crate::value::Value;

/// Reads bytes as decisions; past the end every read is 0.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n.max(1)
    }

    fn int(&mut self) -> i128 {
        let mut bytes = [0u8; 16];
        for b in &mut bytes[..9] {
            *b = self.byte();
        }
        // Sign-extend the 72 bits read: values past every C type's range too.
        (i128::from_le_bytes(bytes) << 56) >> 56
    }
}

/// Builds a type from the data (scalars, pointers, arrays, structs and
/// unions with bitfields and packing, nested up to `depth`).
fn ty(c: &mut Cursor<'_>, depth: u32) -> CType {
    let choice = c.below(if depth == 0 { 2 } else { 5 });
    match choice {
        0 => {
            let scalars: Vec<CScalar> = CScalar::ALL
                .into_iter()
                .filter(|s| *s != CScalar::Pointer)
                .collect();
            CType::Scalar(scalars[c.below(scalars.len())])
        }
        1 => CType::pointer_to(CType::Void),
        2 => CType::array_of(ty(c, depth - 1), Some(c.below(5))),
        _ => {
            let kind = if choice == 3 {
                RecordKind::Struct
            } else {
                RecordKind::Union
            };
            let record = CType::new_record(kind, None);
            let n = 1 + c.below(5);
            let fields = (0..n)
                .map(|i| {
                    let field_ty = ty(c, depth - 1);
                    let bit_width = (c.below(4) == 0).then(|| c.below(65) as u32);
                    FieldDecl {
                        name: Some(format!("f{i}")),
                        ty: field_ty,
                        bit_width,
                    }
                })
                .collect();
            let packing = match c.below(4) {
                0 => Packing::Packed,
                1 => Packing::Pack(1 << c.below(5)),
                _ => Packing::Natural,
            };
            // Invalid member lists (e.g. a bitfield of a float) are rejected:
            // fall back to a scalar, the point is that nothing panics.
            match record.complete(fields, packing) {
                Ok(()) => record,
                Err(_) => CType::Scalar(CScalar::Int),
            }
        }
    }
}

/// A value for `ty` from the data (sometimes out of range or of the wrong
/// kind, on purpose).
fn value(c: &mut Cursor<'_>, ty: &CType, depth: u32) -> Value {
    if c.below(16) == 0 || depth > 6 {
        return Value::Int(c.int());
    }
    match ty {
        CType::Scalar(s) if !s.raw_type().is_integer() => {
            Value::Float(f64::from_bits(c.int() as u64))
        }
        CType::Pointer(_) => Value::Pointer(c.int() as usize),
        CType::Array(elem, len) => {
            let n = c.below(len.unwrap_or(0) + 2);
            Value::Array((0..n).map(|_| value(c, elem, depth + 1)).collect())
        }
        CType::Record(r) => {
            let fields = r.body().map(|b| b.fields.clone()).unwrap_or_default();
            let n = c.below(fields.len() + 1);
            Value::Record(
                fields
                    .iter()
                    .take(n)
                    .map(|f| (f.name.clone(), value(c, &f.ty, depth + 1)))
                    .collect(),
            )
        }
        _ => Value::Int(c.int()),
    }
}

/// Marshalling round trip: build a type and a value from `data`, write it,
/// and if that succeeded read it back and write that again: the bytes must
/// not change. Panics (the fuzzer's finding) only on a real bug. Returns
/// whether the value was valid for the type (the round trip ran).
pub fn marshal_roundtrip(data: &[u8]) -> bool {
    let mut c = Cursor(data);
    let ty = ty(&mut c, 3);
    let Ok(size) = ty.size() else { return false };
    if size > 1 << 16 {
        return false;
    }
    let v = value(&mut c, &ty, 0);
    let mut bytes = vec![0u8; size];
    if v.write_to(&ty, &mut bytes).is_err() {
        return false;
    }
    let back = Value::read_from(&ty, &bytes).expect("bytes just written read back");
    let mut again = vec![0u8; size];
    back.write_to(&ty, &mut again)
        .expect("a value just read writes back");
    // Float payloads may change (NaN, f64 -> f32 rounding), but a second
    // round trip is stable.
    let back2 = Value::read_from(&ty, &again).expect("reads back");
    let mut third = vec![0u8; size];
    back2.write_to(&ty, &mut third).expect("writes back");
    assert_eq!(again, third, "marshalling is not stable for {ty}");
    true
}

/// The declaration parser on arbitrary input: parsing must succeed or fail
/// with a `ParseError`, never panic or hang; what it declares must have
/// computable (or cleanly refused) sizes and spellings; and the input's
/// first line, as a type name, goes through `parse_type` too. Returns
/// whether the source parsed.
///
/// The declared types are looked at in place, not handed out, so dropping
/// the namespace frees them all, cycles included (which a long fuzzing run
/// would otherwise accumulate).
pub fn parse_cdef(data: &[u8]) -> bool {
    let src = String::from_utf8_lossy(data);
    let mut decls = crate::parser::Declarations::new();
    let parsed = decls.parse(&src).is_ok();
    decls.inspect_in_place(|ty| {
        let _ = ty.size();
        let _ = ty.align();
        let _ = ty.to_string();
        let _ = ty.to_raw();
        let _ = ty.missing();
    });
    let first_line = src.lines().next().unwrap_or("");
    if let Ok(ty) = decls.parse_type(first_line) {
        let _ = ty.size();
        let _ = ty.to_raw();
        let _ = ty.missing();
    }
    parsed
}
