//! Struct and union layout as gcc computes it on x86-64 (System V, no
//! `ms_struct`).
//!
//! Positions are tracked in bits. The rules, from the psABI and gcc's
//! `stor-layout.c`, each checked against gcc by the differential test
//! (`tests/layout_diff`):
//! - An ordinary member goes at the next multiple of its alignment; the
//!   record's alignment is the largest member alignment. `#pragma pack(N)`
//!   caps every member alignment at N; `__attribute__((packed))` makes it 1.
//! - A bitfield goes at the next free bit. In natural layout it may not span
//!   more units of its type's alignment than the type itself has (an `int:5`
//!   never crosses a 4-byte boundary); if it would, it moves to the next
//!   boundary. Under any `#pragma pack(N)` — even one above the type's
//!   alignment — and under `packed` there is no such rule: bits follow bits
//!   (`#pragma pack(4) struct { char a; int b : 30; }` puts `b` at bit 8).
//! - A named bitfield aligns the record as its type would (capped likewise);
//!   unnamed bitfields do not affect the record's alignment.
//! - A zero-width bitfield moves the position to a multiple of its type's
//!   alignment, whatever the packing, without aligning the record; that
//!   position counts towards the size, so `struct { char a; int : 0; }` is
//!   4 bytes with alignment 1.
//! - A flexible array member (`T x[]`, last) is placed at T's alignment and
//!   adds nothing to the size.
//! - A union puts every member at 0 and is as large as its largest member.
//! - The size is the end rounded up to the record's alignment.

use ffi_raw::CScalar;

use crate::ctype::{CType, Field, RecordBody, RecordKind};
use crate::error::{Error, Result};

/// How members are packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Packing {
    /// The compiler's natural layout.
    #[default]
    Natural,
    /// `#pragma pack(N)`: member alignments capped at N (a power of two);
    /// bitfields packed bit by bit, as under `packed`.
    Pack(usize),
    /// `__attribute__((packed))`: no padding; bitfields packed bit by bit.
    Packed,
}

impl Packing {
    fn cap(self, align: usize) -> usize {
        match self {
            Packing::Natural => align,
            Packing::Pack(n) => align.min(n),
            Packing::Packed => 1,
        }
    }
}

/// A member as declared, before layout.
#[derive(Clone, Debug)]
pub struct FieldDecl {
    /// The name; `None` for an anonymous struct/union member or an unnamed
    /// bitfield.
    pub name: Option<String>,
    /// The declared type.
    pub ty: CType,
    /// The width, for a bitfield.
    pub bit_width: Option<u32>,
}

impl FieldDecl {
    /// An ordinary member.
    pub fn new(name: &str, ty: CType) -> FieldDecl {
        FieldDecl {
            name: Some(name.to_string()),
            ty,
            bit_width: None,
        }
    }

    /// A named bitfield.
    pub fn bits(name: &str, ty: CType, width: u32) -> FieldDecl {
        FieldDecl {
            name: Some(name.to_string()),
            ty,
            bit_width: Some(width),
        }
    }
}

/// Where a bitfield's bits are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BitField {
    /// The number of bits.
    pub width: u32,
    /// The position of the lowest bit within the byte at the field's offset
    /// (0..8): the field is bits `shift..shift + width` of the little-endian
    /// integer starting at that byte.
    pub shift: u32,
}

/// Lays out a struct or union; `ty` names it in errors.
pub(crate) fn layout_record(
    ty: &CType,
    kind: RecordKind,
    decls: Vec<FieldDecl>,
    packing: Packing,
) -> Result<RecordBody> {
    if let Packing::Pack(n) = packing
        && !n.is_power_of_two()
    {
        return Err(layout_error(
            ty,
            format!("pack({n}): the packing must be a power of two"),
        ));
    }
    // Positions are in bits: absurd sizes must be an error, not a wrap.
    let too_large = || layout_error(ty, "the record is too large".into());
    let count = decls.len();
    let mut fields = Vec::with_capacity(count);
    let mut pos: u64 = 0; // bits
    let mut end: u64 = 0; // bits: for unions, the largest member
    let mut record_align = 1usize;
    for (index, decl) in decls.into_iter().enumerate() {
        let what = decl
            .name
            .clone()
            .unwrap_or_else(|| format!("member {index}"));
        let flexible = matches!(decl.ty, CType::Array(_, None));
        if flexible && (kind == RecordKind::Union || index + 1 != count || decl.bit_width.is_some())
        {
            return Err(layout_error(
                ty,
                format!("{what}: an array of unknown size may only be a struct's last member"),
            ));
        }
        let type_align = decl
            .ty
            .align()
            .map_err(|e| layout_error(ty, format!("{what}: {e}")))?;
        let type_size = if flexible {
            0
        } else {
            decl.ty
                .size()
                .map_err(|e| layout_error(ty, format!("{what}: {e}")))?
        };
        let type_bits = (type_size as u64).checked_mul(8).ok_or_else(too_large)?;
        let start = if kind == RecordKind::Union { 0 } else { pos };
        match decl.bit_width {
            None => {
                let align = packing.cap(type_align);
                let at = start
                    .checked_next_multiple_of(align as u64 * 8)
                    .ok_or_else(too_large)?;
                record_align = record_align.max(align);
                fields.push(Field {
                    name: decl.name,
                    ty: decl.ty,
                    offset: (at / 8) as usize,
                    bits: None,
                });
                pos = at.checked_add(type_bits).ok_or_else(too_large)?;
            }
            Some(width) => {
                if !decl.ty.is_integer() {
                    return Err(layout_error(
                        ty,
                        format!(
                            "{what}: a bitfield must have an integer type, not {}",
                            decl.ty
                        ),
                    ));
                }
                // gcc: `_Bool` bitfields are at most one bit wide.
                let max_width = if decl.ty == CType::Scalar(CScalar::Bool) {
                    1
                } else {
                    type_bits
                };
                if width as u64 > max_width {
                    return Err(layout_error(
                        ty,
                        format!(
                            "{what}: width {width} exceeds the {max_width} bit{} of {}",
                            if max_width == 1 { "" } else { "s" },
                            decl.ty
                        ),
                    ));
                }
                if width == 0 {
                    if decl.name.is_some() {
                        return Err(layout_error(
                            ty,
                            format!("{what}: a zero-width bitfield must be unnamed"),
                        ));
                    }
                    pos = start
                        .checked_next_multiple_of(type_align as u64 * 8)
                        .ok_or_else(too_large)?;
                    end = end.max(pos);
                    continue;
                }
                // gcc applies the unit rule only without any packing
                // (`maximum_field_alignment == 0` and the field not packed).
                let unit = type_align as u64 * 8;
                let mut at = start;
                if packing == Packing::Natural
                    && spans_too_many_units(at, width as u64, unit, type_bits)
                {
                    at = at.checked_next_multiple_of(unit).ok_or_else(too_large)?;
                }
                if decl.name.is_some() {
                    record_align = record_align.max(packing.cap(type_align));
                }
                fields.push(Field {
                    name: decl.name,
                    ty: decl.ty,
                    offset: (at / 8) as usize,
                    bits: Some(BitField {
                        width,
                        shift: (at % 8) as u32,
                    }),
                });
                pos = at.checked_add(width as u64).ok_or_else(too_large)?;
            }
        }
        end = end.max(pos);
    }
    let size_bits = end
        .checked_next_multiple_of(8)
        .and_then(|bits| bits.checked_next_multiple_of(record_align as u64 * 8))
        .ok_or_else(too_large)?;
    let size = usize::try_from(size_bits / 8).map_err(|_| too_large())?;
    Ok(RecordBody::new(fields, size, record_align, packing))
}

/// gcc's `excess_unit_span`: whether `width` bits at bit `pos` touch more
/// `unit`-bit alignment units than the type's `type_bits` hold.
fn spans_too_many_units(pos: u64, width: u64, unit: u64, type_bits: u64) -> bool {
    let offset = pos % unit;
    (offset + width).div_ceil(unit) > type_bits / unit
}

fn layout_error(ty: &CType, reason: String) -> Error {
    Error::Layout {
        ty: ty.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctype::RecordKind;
    use ffi_raw::CScalar;

    fn scalar(s: CScalar) -> CType {
        CType::Scalar(s)
    }

    fn record(kind: RecordKind, fields: Vec<FieldDecl>, packing: Packing) -> CType {
        let ty = CType::new_record(kind, None);
        ty.complete(fields, packing).unwrap();
        ty
    }

    fn unnamed(ty: CType, width: u32) -> FieldDecl {
        FieldDecl {
            name: None,
            ty,
            bit_width: Some(width),
        }
    }

    fn layout(ty: &CType) -> (usize, usize, Vec<(usize, Option<BitField>)>) {
        let CType::Record(r) = ty else { panic!() };
        let body = r.body().unwrap();
        (
            body.size,
            body.align,
            body.fields.iter().map(|f| (f.offset, f.bits)).collect(),
        )
    }

    // Expected values below are what gcc 12 prints for the same declarations.

    #[test]
    fn ordinary_members_and_packing() {
        let fields = || {
            vec![
                FieldDecl::new("c", scalar(CScalar::Char)),
                FieldDecl::new("d", scalar(CScalar::Double)),
                FieldDecl::new("s", scalar(CScalar::Short)),
            ]
        };
        let (size, align, f) = layout(&record(RecordKind::Struct, fields(), Packing::Natural));
        assert_eq!((size, align, f[1].0, f[2].0), (24, 8, 8, 16));
        let (size, align, f) = layout(&record(RecordKind::Struct, fields(), Packing::Pack(2)));
        assert_eq!((size, align, f[1].0, f[2].0), (12, 2, 2, 10));
        let (size, align, f) = layout(&record(RecordKind::Struct, fields(), Packing::Packed));
        assert_eq!((size, align, f[1].0, f[2].0), (11, 1, 1, 9));
        let (size, align, _) = layout(&record(RecordKind::Union, fields(), Packing::Natural));
        assert_eq!((size, align), (8, 8));
    }

    #[test]
    fn bitfields() {
        // struct { char a; int b : 30; } : b cannot share a with 30 bits.
        let s = record(
            RecordKind::Struct,
            vec![
                FieldDecl::new("a", scalar(CScalar::Char)),
                FieldDecl::bits("b", scalar(CScalar::Int), 30),
            ],
            Packing::Natural,
        );
        let (size, align, f) = layout(&s);
        assert_eq!((size, align), (8, 4));
        assert_eq!(
            f[1],
            (
                4,
                Some(BitField {
                    width: 30,
                    shift: 0
                })
            )
        );
        // struct { char a; int b : 3; } : b fits in the first int unit.
        let s = record(
            RecordKind::Struct,
            vec![
                FieldDecl::new("a", scalar(CScalar::Char)),
                FieldDecl::bits("b", scalar(CScalar::Int), 3),
            ],
            Packing::Natural,
        );
        assert_eq!(
            layout(&s),
            (
                4,
                4,
                vec![(0, None), (1, Some(BitField { width: 3, shift: 0 }))]
            )
        );
        // struct { char a; int : 0; char b; } : sizeof 5, alignment 1.
        let s = record(
            RecordKind::Struct,
            vec![
                FieldDecl::new("a", scalar(CScalar::Char)),
                unnamed(scalar(CScalar::Int), 0),
                FieldDecl::new("b", scalar(CScalar::Char)),
            ],
            Packing::Natural,
        );
        assert_eq!(layout(&s), (5, 1, vec![(0, None), (4, None)]));
        // struct { char a; int : 0; } : the trailing zero-width bitfield
        // still counts: sizeof 4, alignment 1.
        let s = record(
            RecordKind::Struct,
            vec![
                FieldDecl::new("a", scalar(CScalar::Char)),
                unnamed(scalar(CScalar::Int), 0),
            ],
            Packing::Natural,
        );
        assert_eq!(layout(&s), (4, 1, vec![(0, None)]));
        // packed: bits follow bits across bytes.
        let s = record(
            RecordKind::Struct,
            vec![
                FieldDecl::bits("a", scalar(CScalar::UInt), 5),
                FieldDecl::bits("b", scalar(CScalar::UInt), 30),
            ],
            Packing::Packed,
        );
        assert_eq!(
            layout(&s),
            (
                5,
                1,
                vec![
                    (0, Some(BitField { width: 5, shift: 0 })),
                    (
                        0,
                        Some(BitField {
                            width: 30,
                            shift: 5
                        })
                    )
                ]
            )
        );
    }

    #[test]
    fn bitfields_under_pragma_pack() {
        // #pragma pack(4) struct { char a; int b : 30; } : no unit rule, b
        // follows a at bit 8; alignment min(4, 4), sizeof 8.
        let s = record(
            RecordKind::Struct,
            vec![
                FieldDecl::new("a", scalar(CScalar::Char)),
                FieldDecl::bits("b", scalar(CScalar::Int), 30),
            ],
            Packing::Pack(4),
        );
        assert_eq!(
            layout(&s),
            (
                8,
                4,
                vec![
                    (0, None),
                    (
                        1,
                        Some(BitField {
                            width: 30,
                            shift: 0
                        })
                    )
                ]
            )
        );
        // #pragma pack(4) struct { char a : 3; char b : 7; } : b is bits 3..10,
        // across the byte boundary; sizeof 2.
        let s = record(
            RecordKind::Struct,
            vec![
                FieldDecl::bits("a", scalar(CScalar::Char), 3),
                FieldDecl::bits("b", scalar(CScalar::Char), 7),
            ],
            Packing::Pack(4),
        );
        assert_eq!(
            layout(&s),
            (
                2,
                1,
                vec![
                    (0, Some(BitField { width: 3, shift: 0 })),
                    (0, Some(BitField { width: 7, shift: 3 }))
                ]
            )
        );
    }

    #[test]
    fn flexible_array_member() {
        let s = record(
            RecordKind::Struct,
            vec![
                FieldDecl::new("n", scalar(CScalar::Char)),
                FieldDecl::new("data", CType::array_of(scalar(CScalar::Double), None)),
            ],
            Packing::Natural,
        );
        assert_eq!(layout(&s), (8, 8, vec![(0, None), (8, None)]));
    }

    #[test]
    fn huge_records_are_errors_not_wraps() {
        let huge = CType::array_of(scalar(CScalar::Char), Some(usize::MAX / 4));
        let ty = CType::new_record(RecordKind::Struct, None);
        let err = ty.complete(
            vec![FieldDecl::new("a", huge.clone()), FieldDecl::new("b", huge)],
            Packing::Natural,
        );
        assert!(err.unwrap_err().to_string().contains("too large"));
    }

    #[test]
    fn errors() {
        let err = |fields: Vec<FieldDecl>, kind| {
            let ty = CType::new_record(kind, Some("bad"));
            ty.complete(fields, Packing::Natural)
                .unwrap_err()
                .to_string()
        };
        assert!(
            err(
                vec![FieldDecl::bits("x", scalar(CScalar::Double), 3)],
                RecordKind::Struct
            )
            .contains("integer type")
        );
        assert!(
            err(
                vec![FieldDecl::bits("x", scalar(CScalar::Char), 9)],
                RecordKind::Struct
            )
            .contains("exceeds the 8 bits")
        );
        assert!(
            err(
                vec![FieldDecl::bits("x", scalar(CScalar::Bool), 2)],
                RecordKind::Struct
            )
            .contains("exceeds the 1 bit of _Bool")
        );
        assert!(
            err(
                vec![
                    FieldDecl::new("x", CType::array_of(scalar(CScalar::Int), None)),
                    FieldDecl::new("y", scalar(CScalar::Int))
                ],
                RecordKind::Struct
            )
            .contains("last member")
        );
        assert!(
            err(vec![FieldDecl::new("x", CType::Void)], RecordKind::Struct).contains("incomplete")
        );
        let ty = CType::new_record(RecordKind::Struct, None);
        assert!(
            ty.complete(vec![], Packing::Pack(3))
                .unwrap_err()
                .to_string()
                .contains("power of two")
        );
    }
}
