//! Struct and union layout as the C compiler computes it.
//!
//! Positions are tracked in bits. Ordinary members follow the psABI (and
//! gcc's `stor-layout.c`) on every target: a member goes at the next
//! multiple of its alignment, the record's alignment is the largest member
//! alignment, `#pragma pack(N)` caps every member alignment at N,
//! `__attribute__((packed))` makes it 1, a flexible array member (`T x[]`,
//! last) is placed at T's alignment and adds nothing to the size, a union
//! puts every member at 0 and is as large as its largest member, and the
//! size is the end rounded up to the record's alignment.
//!
//! Bitfields are where ABIs differ, so their rules are data: a
//! [`BitfieldRules`] table per ABI, [`BitfieldRules::HOST`] for the target
//! this crate runs on (the sizes, alignments and signedness of the scalars
//! come from [`ffi_raw::Target`]). Two tables are provided, each checked
//! against gcc by the differential test (`tests/layout_diff`):
//! [`BitfieldRules::SYSV`] (gcc and clang on System V targets: x86-64 and
//! AArch64 Linux) and [`BitfieldRules::MS`] (Microsoft's, as MSVC and gcc's
//! `ms_struct` lay records out). The choices a table makes:
//!
//! - [`BitfieldAllocation`]: how bitfields share storage.
//!   [`AlignmentUnits`](BitfieldAllocation::AlignmentUnits) (System V): a
//!   bitfield goes at the next free bit, but may not span more units of its
//!   type's alignment than the type itself has (an `int:5` never crosses a
//!   4-byte boundary); if it would, it moves to the next boundary. gcc
//!   drops that rule under any `#pragma pack(N)`, even one above the type's
//!   alignment, and under `packed`: there bits follow bits
//!   (`#pragma pack(4) struct { char a; int b : 30; }` puts `b` at bit 8).
//!   [`SizeRuns`](BitfieldAllocation::SizeRuns) (Microsoft): consecutive
//!   bitfields whose types have the same size share storage units of that
//!   size, which start at the type's alignment (capped by packing); a
//!   bitfield that does not fit in what is left of its unit, or whose type
//!   has another size, starts a new unit; a member that is not a bitfield
//!   ends the unit, and the whole unit counts (also at the end of the
//!   record): `struct { char a : 4; int b : 4; }` is 8 bytes.
//! - Whether an unnamed bitfield of non-zero width aligns the record as a
//!   named one does (System V: no; Microsoft: yes). A bitfield's alignment
//!   is capped like any member's; packed bitfields never raise it.
//! - [`ZeroWidth`]: what `T : 0` does. System V
//!   ([`AlignsNext`](ZeroWidth::AlignsNext)): the position moves to a
//!   multiple of T's alignment, whatever the packing, without aligning the
//!   record; that position counts towards the size, so
//!   `struct { char a; int : 0; }` is 4 bytes with alignment 1. Microsoft
//!   ([`EndsBitfieldUnit`](ZeroWidth::EndsBitfieldUnit)): only right after a
//!   bitfield of non-zero width does it do anything: it ends that
//!   bitfield's unit, aligns the position to T (capped by packing, unless T
//!   has the unit's size) and the record to T (capped by `#pragma pack`
//!   only, not by `packed`); anywhere else it is ignored. In a union a
//!   zero-width bitfield does nothing under either table.
//! - The widest `_Bool` bitfield (1 bit for gcc, which rejects more).
//!
//! Another ABI is another table; a rule neither provided table has would be
//! a new variant of one of these enums, handled in `layout_record`.

use ffi_raw::CScalar;

use crate::ctype::{CType, Field, RecordBody, RecordKind};
use crate::error::{Error, Result};

/// How members are packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Packing {
    /// The compiler's natural layout.
    #[default]
    Natural,
    /// `#pragma pack(N)`: member alignments capped at N (a power of two).
    /// Under [`BitfieldRules::SYSV`], bitfields are also packed bit by bit,
    /// as under `packed`.
    Pack(usize),
    /// `__attribute__((packed))`: no padding (and, under
    /// [`BitfieldRules::SYSV`], bitfields packed bit by bit).
    Packed,
}

impl Packing {
    /// A member alignment under this packing.
    fn cap(self, align: usize) -> usize {
        match self {
            Packing::Natural => align,
            Packing::Pack(n) => align.min(n),
            Packing::Packed => 1,
        }
    }

    /// An alignment capped by `#pragma pack` only.
    fn pragma_cap(self, align: usize) -> usize {
        match self {
            Packing::Pack(n) => align.min(n),
            Packing::Natural | Packing::Packed => align,
        }
    }
}

/// The bitfield layout rules of one ABI: the choices C compilers make
/// differently. See the [module documentation](self) for what each means.
///
/// ```
/// use ffi_raw::CScalar;
/// use ffi_typed::{BitfieldRules, CType, FieldDecl, Packing, RecordKind};
///
/// // struct { char a : 4; int b : 4; }
/// let fields = || {
///     vec![
///         FieldDecl::bits("a", CType::Scalar(CScalar::Char), 4),
///         FieldDecl::bits("b", CType::Scalar(CScalar::Int), 4),
///     ]
/// };
/// let sysv = CType::new_record(RecordKind::Struct, None);
/// sysv.complete_with(fields(), Packing::Natural, &BitfieldRules::SYSV).unwrap();
/// let ms = CType::new_record(RecordKind::Struct, None);
/// ms.complete_with(fields(), Packing::Natural, &BitfieldRules::MS).unwrap();
/// // gcc: b shares a's int; MSVC: a new int-sized unit.
/// assert_eq!(sysv.size().unwrap(), 4);
/// assert_eq!(ms.size().unwrap(), 8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BitfieldRules {
    /// A name for the table, e.g. `"System V (gcc, clang)"`.
    pub name: &'static str,
    /// How bitfields share storage.
    pub allocation: BitfieldAllocation,
    /// Whether an unnamed bitfield of non-zero width raises the record's
    /// alignment as a named one does.
    pub unnamed_aligns_record: bool,
    /// What a zero-width bitfield (`T : 0`) does.
    pub zero_width: ZeroWidth,
    /// The widest `_Bool` bitfield, in bits.
    pub bool_width: u32,
}

/// How bitfields share storage (see the [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitfieldAllocation {
    /// System V: next free bit, not spanning more alignment units of the
    /// type than the type has.
    AlignmentUnits {
        /// Whether that unit rule also holds under `#pragma pack` and
        /// `packed` (gcc: no, bits follow bits there).
        when_packed: bool,
    },
    /// Microsoft: runs of bitfields whose types have the same size share
    /// units of that size.
    SizeRuns,
}

/// What a zero-width bitfield does (see the [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZeroWidth {
    /// System V: aligns the next position to the type, whatever the
    /// packing; does not align the record.
    AlignsNext,
    /// Microsoft: right after a non-zero bitfield, ends its unit and aligns
    /// the position and the record to the type; elsewhere ignored.
    EndsBitfieldUnit,
}

impl BitfieldRules {
    /// gcc and clang on System V targets (x86-64 and AArch64 Linux, without
    /// `ms_struct`).
    pub const SYSV: BitfieldRules = BitfieldRules {
        name: "System V (gcc, clang)",
        allocation: BitfieldAllocation::AlignmentUnits { when_packed: false },
        unnamed_aligns_record: false,
        zero_width: ZeroWidth::AlignsNext,
        bool_width: 1,
    };

    /// Microsoft's rules: MSVC, and gcc or clang with
    /// `__attribute__((ms_struct))` or `-mms-bitfields`.
    pub const MS: BitfieldRules = BitfieldRules {
        name: "Microsoft (MSVC, gcc ms_struct)",
        allocation: BitfieldAllocation::SizeRuns,
        unnamed_aligns_record: true,
        zero_width: ZeroWidth::EndsBitfieldUnit,
        bool_width: 1,
    };

    /// The rules of the target this crate was compiled for, as
    /// [`ffi_raw::Target::HOST`]'s `bitfield_abi` names them.
    pub const HOST: BitfieldRules = BitfieldRules::of(ffi_raw::Target::HOST.bitfield_abi);

    /// The table for a bitfield convention.
    pub const fn of(abi: ffi_raw::BitfieldAbi) -> BitfieldRules {
        match abi {
            ffi_raw::BitfieldAbi::SysV => BitfieldRules::SYSV,
            ffi_raw::BitfieldAbi::Microsoft => BitfieldRules::MS,
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

/// The storage unit the last bitfield went into, under
/// [`BitfieldAllocation::SizeRuns`] (bits).
#[derive(Clone, Copy, Debug)]
struct Unit {
    start: u64,
    size: u64,
    left: u64,
}

impl Unit {
    fn end(self) -> Option<u64> {
        self.start.checked_add(self.size)
    }
}

/// Lays out a struct or union under `rules`; `ty` names it in errors.
pub(crate) fn layout_record(
    ty: &CType,
    kind: RecordKind,
    decls: Vec<FieldDecl>,
    packing: Packing,
    rules: &BitfieldRules,
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
    let too_large = || Error::TooLarge(ty.to_string());
    let align_up = |at: u64, align_bytes: usize| {
        at.checked_next_multiple_of(align_bytes as u64 * 8)
            .ok_or_else(too_large)
    };
    let union = kind == RecordKind::Union;
    let count = decls.len();
    let mut fields = Vec::with_capacity(count);
    let mut pos: u64 = 0; // bits
    let mut end: u64 = 0; // bits: for unions, the largest member
    let mut record_align = 1usize;
    // Whether the previous member is a bitfield of non-zero width.
    let mut after_bitfield = false;
    // SizeRuns only (structs): the unit the previous bitfield is in.
    let mut unit: Option<Unit> = None;
    for (index, decl) in decls.into_iter().enumerate() {
        let what = decl
            .name
            .clone()
            .unwrap_or_else(|| format!("member {index}"));
        let flexible = matches!(decl.ty, CType::Array(_, None));
        if flexible && (union || index + 1 != count || decl.bit_width.is_some()) {
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
        let Some(width) = decl.bit_width else {
            // An ordinary member: it ends a bitfield unit.
            let mut start = if union { 0 } else { pos };
            if let Some(u) = unit.take() {
                start = u.end().ok_or_else(too_large)?;
            }
            after_bitfield = false;
            let align = packing.cap(type_align);
            let at = align_up(start, align)?;
            record_align = record_align.max(align);
            fields.push(Field {
                name: decl.name,
                ty: decl.ty,
                offset: (at / 8) as usize,
                bits: None,
            });
            pos = at.checked_add(type_bits).ok_or_else(too_large)?;
            end = end.max(pos);
            continue;
        };
        if !decl.ty.is_integer() {
            return Err(layout_error(
                ty,
                format!(
                    "{what}: a bitfield must have an integer type, not {}",
                    decl.ty
                ),
            ));
        }
        let max_width = if decl.ty == CType::Scalar(CScalar::Bool) {
            u64::from(rules.bool_width)
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
            if union {
                continue;
            }
            match rules.zero_width {
                ZeroWidth::AlignsNext => {
                    if let Some(u) = unit.take() {
                        pos = u.end().ok_or_else(too_large)?;
                    }
                    pos = align_up(pos, type_align)?;
                }
                ZeroWidth::EndsBitfieldUnit => {
                    if !after_bitfield {
                        continue;
                    }
                    record_align = record_align.max(packing.pragma_cap(type_align));
                    let same_size = match unit.take() {
                        Some(u) => {
                            pos = u.end().ok_or_else(too_large)?;
                            u.size == type_bits
                        }
                        None => false,
                    };
                    if !same_size {
                        pos = align_up(pos, packing.cap(type_align))?;
                    }
                }
            }
            after_bitfield = false;
            end = end.max(pos);
            continue;
        }
        if decl.name.is_some() || rules.unnamed_aligns_record {
            record_align = record_align.max(packing.cap(type_align));
        }
        let at = if union {
            0
        } else {
            match rules.allocation {
                BitfieldAllocation::AlignmentUnits { when_packed } => {
                    let unit_bits = type_align as u64 * 8;
                    if (packing == Packing::Natural || when_packed)
                        && spans_too_many_units(pos, width as u64, unit_bits, type_bits)
                    {
                        align_up(pos, type_align)?
                    } else {
                        pos
                    }
                }
                BitfieldAllocation::SizeRuns => {
                    let next = match unit {
                        Some(u) if u.size == type_bits && u.left >= width as u64 => Unit {
                            left: u.left - width as u64,
                            ..u
                        },
                        _ => {
                            // A new unit: right after a full one of this
                            // size, else at the type's alignment after the
                            // previous unit (or position).
                            let start = match unit {
                                Some(u) if u.size == type_bits => u.end().ok_or_else(too_large)?,
                                Some(u) => align_up(
                                    u.end().ok_or_else(too_large)?,
                                    packing.cap(type_align),
                                )?,
                                None => align_up(pos, packing.cap(type_align))?,
                            };
                            pos = start;
                            Unit {
                                start,
                                size: type_bits,
                                left: type_bits - width as u64,
                            }
                        }
                    };
                    unit = Some(next);
                    pos
                }
            }
        };
        after_bitfield = true;
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
        end = end.max(pos);
    }
    if let Some(u) = unit {
        end = end.max(u.end().ok_or_else(too_large)?);
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

    fn ms(kind: RecordKind, fields: Vec<FieldDecl>, packing: Packing) -> CType {
        let ty = CType::new_record(kind, None);
        ty.complete_with(fields, packing, &BitfieldRules::MS)
            .unwrap();
        ty
    }

    fn bits(width: u32, shift: u32) -> Option<BitField> {
        Some(BitField { width, shift })
    }

    // Expected values: gcc 12 with `__attribute__((ms_struct))`.

    #[test]
    fn ms_bitfields_share_units_of_one_type_size() {
        let (c, i) = (scalar(CScalar::Char), scalar(CScalar::Int));
        // struct { char a : 4; int b : 4; }: b starts an int unit.
        let s = ms(
            RecordKind::Struct,
            vec![
                FieldDecl::bits("a", c.clone(), 4),
                FieldDecl::bits("b", i.clone(), 4),
            ],
            Packing::Natural,
        );
        assert_eq!(layout(&s), (8, 4, vec![(0, bits(4, 0)), (4, bits(4, 0))]));
        // struct { int a : 4; unsigned b : 4; }: same size, same unit.
        let s = ms(
            RecordKind::Struct,
            vec![
                FieldDecl::bits("a", i.clone(), 4),
                FieldDecl::bits("b", scalar(CScalar::UInt), 4),
            ],
            Packing::Natural,
        );
        assert_eq!(layout(&s), (4, 4, vec![(0, bits(4, 0)), (0, bits(4, 4))]));
        // struct { int a : 10; int b : 10; int c : 20; }: c does not fit.
        let s = ms(
            RecordKind::Struct,
            vec![
                FieldDecl::bits("a", i.clone(), 10),
                FieldDecl::bits("b", i.clone(), 10),
                FieldDecl::bits("c", i.clone(), 20),
            ],
            Packing::Natural,
        );
        assert_eq!(
            layout(&s),
            (
                8,
                4,
                vec![(0, bits(10, 0)), (1, bits(10, 2)), (4, bits(20, 0))]
            )
        );
        // struct { int a : 3; char c; }: the int unit is used up.
        let s = ms(
            RecordKind::Struct,
            vec![
                FieldDecl::bits("a", i.clone(), 3),
                FieldDecl::new("c", c.clone()),
            ],
            Packing::Natural,
        );
        assert_eq!(layout(&s), (8, 4, vec![(0, bits(3, 0)), (4, None)]));
        // packed { char a : 4; int b : 4; char c; }: units stay whole.
        let s = ms(
            RecordKind::Struct,
            vec![
                FieldDecl::bits("a", c.clone(), 4),
                FieldDecl::bits("b", i.clone(), 4),
                FieldDecl::new("c", c.clone()),
            ],
            Packing::Packed,
        );
        assert_eq!(
            layout(&s),
            (6, 1, vec![(0, bits(4, 0)), (1, bits(4, 0)), (5, None)])
        );
        // #pragma pack(1) struct { int a : 3; }: the unit counts at the end.
        let s = ms(
            RecordKind::Struct,
            vec![FieldDecl::bits("a", i, 3)],
            Packing::Pack(1),
        );
        assert_eq!(layout(&s), (4, 1, vec![(0, bits(3, 0))]));
    }

    #[test]
    fn ms_zero_width_and_unnamed_bitfields() {
        let (c, i, ll) = (
            scalar(CScalar::Char),
            scalar(CScalar::Int),
            scalar(CScalar::LongLong),
        );
        // struct { char a; int : 0; char b; }: ignored after a non-bitfield.
        let s = ms(
            RecordKind::Struct,
            vec![
                FieldDecl::new("a", c.clone()),
                unnamed(i.clone(), 0),
                FieldDecl::new("b", c.clone()),
            ],
            Packing::Natural,
        );
        assert_eq!(layout(&s), (2, 1, vec![(0, None), (1, None)]));
        // struct { char a : 3; long long : 0; char b; }: after a bitfield it
        // aligns the next member and the record.
        let s = ms(
            RecordKind::Struct,
            vec![
                FieldDecl::bits("a", c.clone(), 3),
                unnamed(ll.clone(), 0),
                FieldDecl::new("b", c.clone()),
            ],
            Packing::Natural,
        );
        assert_eq!(layout(&s), (16, 8, vec![(0, bits(3, 0)), (8, None)]));
        // packed: the position is not aligned, the record still is.
        let s = ms(
            RecordKind::Struct,
            vec![
                FieldDecl::bits("a", c.clone(), 3),
                unnamed(i.clone(), 0),
                FieldDecl::new("b", c.clone()),
            ],
            Packing::Packed,
        );
        assert_eq!(layout(&s), (4, 4, vec![(0, bits(3, 0)), (1, None)]));
        // struct { char a; int : 4; }: an unnamed bitfield aligns the record.
        let s = ms(
            RecordKind::Struct,
            vec![FieldDecl::new("a", c.clone()), unnamed(i.clone(), 4)],
            Packing::Natural,
        );
        assert_eq!(layout(&s), (8, 4, vec![(0, None), (4, bits(4, 0))]));
        // union { char a : 3; int : 2; } likewise; union { char a : 3; int : 0; }
        // is not affected.
        let u = ms(
            RecordKind::Union,
            vec![FieldDecl::bits("a", c.clone(), 3), unnamed(i.clone(), 2)],
            Packing::Natural,
        );
        assert_eq!(layout(&u).0, 4);
        let u = ms(
            RecordKind::Union,
            vec![FieldDecl::bits("a", c, 3), unnamed(i, 0)],
            Packing::Natural,
        );
        assert_eq!((layout(&u).0, layout(&u).1), (1, 1));
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
