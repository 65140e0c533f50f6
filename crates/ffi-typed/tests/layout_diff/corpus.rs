//! Proptest strategies over the model, the rules that keep every generated
//! definition valid C, and the catalogue of known-tricky layouts.

use ffi_raw::CScalar;
use ffi_typed::Packing;
use proptest::prelude::*;

use crate::model::{Case, EnumDef, IntTy, Member, Rec, Ty};

/// Record nesting below the top-level record (so up to four levels of
/// records in all).
const DEPTH: u32 = 3;

fn scalars() -> Vec<CScalar> {
    CScalar::ALL
        .iter()
        .copied()
        .filter(|s| *s != CScalar::Pointer)
        .collect()
}

fn int_scalars() -> Vec<CScalar> {
    scalars()
        .into_iter()
        .filter(|s| s.raw_type().is_integer())
        .collect()
}

fn leaf() -> BoxedStrategy<Ty> {
    prop_oneof![
        10 => proptest::sample::select(scalars()).prop_map(Ty::Scalar),
        1 => Just(Ty::Pointer),
        2 => (0usize..3).prop_map(Ty::Enum),
    ]
    .boxed()
}

fn array_len() -> BoxedStrategy<usize> {
    prop_oneof![1 => Just(0usize), 12 => 1usize..=4].boxed()
}

fn array(elem: BoxedStrategy<Ty>) -> BoxedStrategy<Ty> {
    (elem, array_len())
        .prop_map(|(e, n)| Ty::Array(Box::new(e), n))
        .boxed()
}

/// A member type: scalars, pointers, enums, arrays (of arrays, of records)
/// and, above depth 0, tagged records.
fn ty(depth: u32) -> BoxedStrategy<Ty> {
    if depth == 0 {
        return prop_oneof![8 => leaf(), 2 => array(leaf())].boxed();
    }
    let rec = record(depth - 1);
    prop_oneof![
        8 => leaf(),
        2 => array(leaf()),
        1 => array(array(leaf())),
        2 => rec.clone().prop_map(|r| Ty::Rec(Box::new(r))),
        1 => array(rec.prop_map(|r| Ty::Rec(Box::new(r))).boxed()),
    ]
    .boxed()
}

fn int_ty() -> BoxedStrategy<IntTy> {
    prop_oneof![
        6 => proptest::sample::select(int_scalars()).prop_map(IntTy::Scalar),
        1 => (0usize..3).prop_map(IntTy::Enum),
    ]
    .boxed()
}

/// Bitfields; widths are brought into the type's range by [`normalize`].
fn bits() -> BoxedStrategy<Member> {
    prop_oneof![
        5 => (int_ty(), 1u32..=64).prop_map(|(ty, width)| Member::Bits {
            ty,
            width,
            name: Some(String::new()),
        }),
        2 => (int_ty(), prop_oneof![1 => Just(0u32), 2 => 0u32..=64]).prop_map(|(ty, width)| {
            Member::Bits {
                ty,
                width,
                name: None,
            }
        }),
    ]
    .boxed()
}

fn member(depth: u32) -> BoxedStrategy<Member> {
    let field = ty(depth).prop_map(|ty| Member::Field {
        ty,
        name: String::new(),
    });
    if depth == 0 {
        return prop_oneof![9 => field, 7 => bits()].boxed();
    }
    prop_oneof![
        9 => field,
        7 => bits(),
        2 => record(depth - 1).prop_map(Member::Anon),
    ]
    .boxed()
}

fn packing() -> BoxedStrategy<Packing> {
    prop_oneof![
        6 => Just(Packing::Natural),
        2 => Just(Packing::Packed),
        4 => proptest::sample::select(vec![1usize, 2, 4, 8, 16]).prop_map(Packing::Pack),
    ]
    .boxed()
}

fn record(depth: u32) -> BoxedStrategy<Rec> {
    let max = if depth == DEPTH { 8 } else { 5 };
    (
        prop_oneof![3 => Just(false), 1 => Just(true)],
        prop_oneof![3 => Just(false), 1 => Just(true)],
        packing(),
        proptest::collection::vec(member(depth), 1..=max),
    )
        .prop_map(|(union, ms, packing, members)| Rec {
            union,
            ms,
            packing,
            members,
            id: 0,
        })
        .boxed()
}

/// Interesting enumerator values: around zero, and the limits of `int`,
/// `unsigned int`, `long` and `unsigned long`.
fn enum_item() -> BoxedStrategy<Option<i128>> {
    let edges: Vec<i128> = vec![
        i32::MIN as i128,
        i32::MIN as i128 + 1,
        -129,
        i32::MAX as i128 - 1,
        i32::MAX as i128,
        i32::MAX as i128 + 1,
        u32::MAX as i128 - 1,
        u32::MAX as i128,
        u32::MAX as i128 + 1,
        i32::MIN as i128 - 1,
        i64::MIN as i128,
        i64::MIN as i128 + 1,
        i64::MAX as i128 - 1,
        i64::MAX as i128,
        i64::MAX as i128 + 1,
        u64::MAX as i128 - 1,
        u64::MAX as i128,
    ];
    prop_oneof![
        3 => Just(None),
        3 => (-8i128..=8).prop_map(Some),
        2 => proptest::sample::select(edges).prop_map(Some),
    ]
    .boxed()
}

fn enum_def() -> BoxedStrategy<EnumDef> {
    proptest::collection::vec(enum_item(), 1..=5)
        .prop_map(|items| EnumDef { items })
        .boxed()
}

/// One definition: 1 to 3 enums, a top-level struct or union nested up to
/// [`DEPTH`] levels, and maybe a flexible array member.
pub fn case() -> BoxedStrategy<Case> {
    (
        proptest::collection::vec(enum_def(), 1..=3),
        record(DEPTH),
        prop_oneof![3 => Just(None), 1 => ty(1).prop_map(Some)],
    )
        .prop_map(|(enums, mut top, flex)| {
            if let Some(elem) = flex {
                top.members.push(Member::Flex {
                    elem,
                    name: String::new(),
                });
            }
            normalize(Case { enums, top })
        })
        .boxed()
}

// ---- validity ----

/// Makes a definition valid C (gcc rejects the alternatives):
/// - enumerators: an implicit value must not overflow the type of the
///   previous one (`int` for `INT_MAX`, `long` for `LONG_MAX`), and no enum
///   mixes negative values with values above `LONG_MAX`;
/// - bitfield widths within the type (`_Bool`: 1 bit), named ones non-zero;
///   enum references within the case's enums;
/// - an anonymous member is defined inside its enclosing record, so it has
///   that record's `#pragma pack`, or, outside any pragma, natural layout or
///   its own `packed` attribute;
/// - a flexible array member only ends the top-level struct, after a named
///   member (elsewhere it becomes an array of one).
///
/// Catalogue entries must already be in this form.
pub fn normalize(mut case: Case) -> Case {
    for e in &mut case.enums {
        normalize_enum(e);
    }
    if case.enums.is_empty() {
        case.enums.push(EnumDef {
            items: vec![Some(0)],
        });
    }
    let bits: Vec<u32> = case.enums.iter().map(enum_bits).collect();
    let top = &mut case.top;
    let flex_ok = !top.union
        && matches!(top.members.last(), Some(Member::Flex { .. }))
        && has_named_member(&top.members[..top.members.len() - 1]);
    let flex = if flex_ok { top.members.pop() } else { None };
    normalize_rec(top, None, &bits);
    if let Some(Member::Flex { mut elem, name }) = flex {
        normalize_ty(&mut elem, &bits);
        top.members.push(Member::Flex { elem, name });
    }
    case.assign_names();
    case
}

/// The largest value of the type C gives the decimal literal `v`.
fn literal_type_max(v: i128) -> i128 {
    if i32::try_from(v).is_ok() {
        i32::MAX as i128
    } else if i64::try_from(v).is_ok() {
        i64::MAX as i128
    } else {
        u64::MAX as i128
    }
}

fn normalize_enum(e: &mut EnumDef) {
    let negative = e.items.iter().any(|v| v.is_some_and(|v| v < 0));
    let limit = if negative {
        i64::MAX as i128
    } else {
        u64::MAX as i128
    };
    let mut prev: Option<i128> = None;
    let mut type_max = i32::MAX as i128;
    for item in &mut e.items {
        let explicit = match (*item, prev) {
            (Some(v), _) => Some(v.min(limit)),
            (None, None) => None,
            (None, Some(p)) if p < type_max => None,
            (None, Some(p)) => Some(if p < limit { p + 1 } else { 0 }),
        };
        if let Some(v) = explicit {
            type_max = literal_type_max(v);
        }
        *item = explicit;
        prev = Some(explicit.unwrap_or_else(|| prev.map_or(0, |p| p + 1)));
    }
}

/// The bits of an enum's type, as C gives it: 32 if every value fits `int`
/// or `unsigned int`, else 64.
fn enum_bits(e: &EnumDef) -> u32 {
    let values = e.values();
    let fits = |lo: i128, hi: i128| values.iter().all(|v| (lo..=hi).contains(v));
    if fits(0, u32::MAX as i128) || fits(i32::MIN as i128, i32::MAX as i128) {
        32
    } else {
        64
    }
}

fn has_named_member(members: &[Member]) -> bool {
    members.iter().any(|m| match m {
        Member::Field { .. } | Member::Flex { .. } => true,
        Member::Bits { name, .. } => name.is_some(),
        Member::Anon(r) => has_named_member(&r.members),
    })
}

/// `inline`: `None` for a tagged record (defined at file scope), or
/// `Some(pragma)` for an anonymous member defined under `pragma`.
fn normalize_rec(rec: &mut Rec, inline: Option<Option<usize>>, enum_bits: &[u32]) {
    match (inline, rec.packing) {
        (Some(Some(n)), _) => rec.packing = Packing::Pack(n),
        (Some(None), Packing::Pack(_)) => rec.packing = Packing::Natural,
        _ => {}
    }
    let pragma = match rec.packing {
        Packing::Pack(n) => Some(n),
        _ => None,
    };
    for m in &mut rec.members {
        if let Member::Flex { elem, name } = m {
            let elem = std::mem::replace(elem, Ty::Pointer);
            *m = Member::Field {
                ty: Ty::Array(Box::new(elem), 1),
                name: std::mem::take(name),
            };
        }
        match m {
            Member::Field { ty, .. } | Member::Flex { elem: ty, .. } => normalize_ty(ty, enum_bits),
            Member::Bits { ty, width, name } => {
                let bits = match ty {
                    IntTy::Scalar(CScalar::Bool) => 1,
                    IntTy::Scalar(s) => s.raw_type().size() as u32 * 8,
                    IntTy::Enum(i) => {
                        *i %= enum_bits.len();
                        enum_bits[*i]
                    }
                };
                *width = if name.is_some() {
                    1 + ((*width).max(1) - 1) % bits
                } else {
                    *width % (bits + 1)
                };
            }
            Member::Anon(r) => normalize_rec(r, Some(pragma), enum_bits),
        }
    }
}

fn normalize_ty(ty: &mut Ty, enum_bits: &[u32]) {
    match ty {
        Ty::Enum(i) => *i %= enum_bits.len(),
        Ty::Array(elem, _) => normalize_ty(elem, enum_bits),
        Ty::Rec(r) => normalize_rec(r, None, enum_bits),
        Ty::Scalar(_) | Ty::Pointer => {}
    }
}

/// Known-tricky layouts, checked on every run before the generated ones
/// (text form, see `model.rs`; scalar indexes are positions in
/// `CScalar::ALL`: 0 `_Bool`, 1 `char`, 3 `unsigned char`, 4 `short`,
/// 6 `int`, 7 `unsigned int`, 8 `long`, 10 `long long`, 11 `unsigned long
/// long`, 25 `float`, 26 `double`, 27 `long double`).
pub const CATALOGUE: &[&str] = &[
    // Bitfields straddling their type's storage unit move to the next one.
    "0|S{B6:30,B6:5}",
    "0|S{B1:5,B1:5}",
    "0|S{B4:10,B4:10,B4:10}",
    "0|S{1,B6:30}",
    "0|S{1,B6:3}",
    "0|S{B7:17,B7:17}",
    "0|S{4,B6:17,B6:16}",
    // Zero-width bitfields: align the next member, not the record; also
    // trailing, in unions, and of `char` type.
    "0|S{1,b6:0,1}",
    "0|S{1,b6:0}",
    "0|S{B6:3,b10:0,B6:3}",
    "0|S{B1:3,b1:0,B1:3}",
    "0|U{1,b10:0}",
    "0|S{b6:0,1}",
    // Unnamed bitfields do not align the record.
    "0|S{1,b10:3}",
    "0|S{b6:30,1}",
    "0|S{B0:1,b10:40,1}",
    // Packed structs with bitfields: bits follow bits, even across bytes.
    "0|Sp{B7:5,B7:30}",
    "0|Sp{1,B10:60,B1:7}",
    "0|Sp{B7:3,B3:7}",
    "0|Sp{B6:3,b6:0,B6:3}",
    "0|S{1,Sp{B6:30}}",
    // pack(2) with doubles (and arrays and structs of them).
    "0|S2{1,26,4}",
    "0|S2{1,[3;26]}",
    "0|S2{1,S{26,1}}",
    "0|S2{4,26,1}",
    // long double members.
    "0|S{1,27}",
    "0|S{27,1}",
    "0|U{27,[3;1]}",
    "0|S1{1,27}",
    "0|S4{1,27,1}",
    "0|S{1,[2;27]}",
    // Flexible array members.
    "0|S{1,F26}",
    "0|S{6,1,F6}",
    "0|S{26,1,F1}",
    "0|Sp{1,F6}",
    "0|S2{1,F26}",
    "0|S{1,FS{26,1}}",
    "0|S{B6:3,F1}",
    "0|S{B6:3,F10}",
    // Unions of structs.
    "0|U{S{1,26},S{6,6,6}}",
    "0|U{S{1,B6:30},S4{27}}",
    "0|U2{S{26},1}",
    "0|Up{S{26,1},6}",
    "0|U{B6:3,B10:40,S{1,B1:7}}",
    // Enums with negative and > INT_MAX values.
    "-1,_|S{1,e0}",
    "0,4294967295|S{1,e0}",
    "-1,4294967295|S{1,e0}",
    "2147483647|S{1,e0}",
    "2147483648,_|S{1,e0}",
    "-2147483648,2147483647|S{1,e0}",
    "0,18446744073709551615|S{1,e0}",
    "-9223372036854775808,_|S{1,e0}",
    "9223372036854775807|S{1,e0}",
    "_,_,-3,_;4294967296;-1|S{Be0:3,Be1:40,Be2:31,e0,e1,e2}",
    // _Bool bitfields.
    "0|S{B0:1,B0:1,b0:0,B0:1}",
    "0|S{B0:1,B6:31,B0:1}",
    "0|Sp{B0:1,B0:1,1}",
    "0|S{B0:1,[3;0]}",
    // long long bitfields crossing 32-bit boundaries.
    "0|S{B10:20,B10:20}",
    "0|S{B6:20,B10:20}",
    "0|S{B11:33,B11:33}",
    "0|S{1,B10:60}",
    "0|S{B7:31,B10:34}",
    "0|S{B10:40,B6:20}",
    // #pragma pack with bitfields.
    "0|S1{1,B6:30}",
    "0|S1{B6:3,B10:62}",
    "0|S1{B1:3,B1:7}",
    "0|S2{1,B6:30,B6:20}",
    "0|S4{1,B10:60}",
    "0|S4{1,B6:30}",
    "0|S1{1,b6:0,1}",
    "0|S2{1,b10:0,1}",
    "0|S8{1,B10:3,1}",
    "0|S16{1,B6:30}",
    // Anonymous members (C11).
    "0|S{1,AU{6,26},1}",
    "0|S2{1,AS2{26,1},1}",
    "0|Sp{1,AS{26,1},1}",
    "0|S{1,ASp{1,6},1}",
    "0|S{1,AS{b6:3},1}",
    "0|U{AS{1,B6:3},AS{4,B6:20}}",
    // Microsoft bitfields (ms_struct): a type of another size starts a new
    // unit; a unit's unused bits count; non-bitfields end the unit.
    "0|Sm{B1:4,B6:4}",
    "0|Sm{B6:4,B7:4}",
    "0|Sm{B10:40,B6:10}",
    "0|Sm{B6:3,1}",
    "0|Sm{1,B6:4,B1:2}",
    "0|Sm{B6:10,B6:10,B6:20}",
    "0|Sm{B6:10,B6:20,B6:10,B6:30,B6:2}",
    "0|Sm{B0:1,B1:1}",
    "0|Sm{B4:3,b6:4,B1:2}",
    "0|Sm{B6:3,F1}",
    "0|Sm{B1:3,S{1}}",
    "0|Sm{B6:3,Be0:3,B7:2}",
    // ... unnamed bitfields align the record ...
    "0|Sm{1,b6:4}",
    "0|Sm{B1:2,b6:3}",
    "0|Sm{1,b10:3}",
    "0|Um{B1:3,b6:2}",
    "0|Um{1,b10:3}",
    // ... zero-width bitfields act only right after a bitfield ...
    "0|Sm{1,b6:0,1}",
    "0|Sm{b6:0,1}",
    "0|Sm{B6:3,b6:0,1}",
    "0|Sm{B1:3,b6:0}",
    "0|Sm{B1:3,b10:0,1}",
    "0|Sm{B6:3,b1:0,1}",
    "0|Sm{B1:3,b6:0,b6:0,1}",
    "0|Sm{B1:3,b4:0,b6:0,1}",
    "0|Sm{B6:3,b6:0,B1:2}",
    "0|Sm{B10:3,b6:0,1}",
    "0|Sm{6,b6:0,1}",
    "0|Sm{B6:3,1,b6:0,1}",
    "0|Um{B1:3,b6:0}",
    // ... under packing.
    "0|Smp{B1:4,B6:4,1}",
    "0|Smp{B1:3,b6:0,1}",
    "0|Smp{B1:3,b10:0}",
    "0|Smp{1,B6:30,B6:30,B6:3}",
    "0|Sm1{B6:3}",
    "0|Sm1{1,B6:10,B6:10,B6:20}",
    "0|Sm2{B1:4,B6:4,B10:3}",
    "0|Sm2{1,b6:0,1}",
    "0|Sm2{B1:3,b10:0,1}",
    "0|Sm4{B1:3,b10:0,1}",
    "0|Sm4{1,B10:3}",
    "0|Um1{B6:3}",
    "0|Ump{1,B6:3}",
    // An ms_struct record inside a System V one and the other way round.
    "0|S{1,Sm{B1:3,B6:3},B1:2}",
    "0|Sm{1,AS{B6:3,B1:2},1}",
    "0|Sm{1,ASm{B6:3,B1:2},1}",
    // Arrays of structs and zero-length arrays.
    "0|S{1,[3;S{26,1}]}",
    "0|S{1,[0;26]}",
    "0|S{1,[2;[3;S{4,1}]]}",
];
