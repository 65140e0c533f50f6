//! The types `ffi-raw` can pass: fixed-width scalars, pointers, and structs
//! (with nested structs and arrays as members), each with the host C layout.

use std::fmt;
use std::sync::{Arc, OnceLock};

use libffi_sys as sys;

use crate::error::{Error, Position, Result};
use crate::platform::Target;

/// A type as the calling convention sees it.
///
/// Scalars are named by width; [`crate::CScalar`] maps C names (`long`,
/// `size_t`, ...) to them. Cloning is cheap: aggregates are reference-counted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// No value; valid only as a return type.
    Void,
    /// 8-bit unsigned integer (also `_Bool`).
    U8,
    /// 8-bit signed integer.
    I8,
    /// 16-bit unsigned integer.
    U16,
    /// 16-bit signed integer.
    I16,
    /// 32-bit unsigned integer.
    U32,
    /// 32-bit signed integer.
    I32,
    /// 64-bit unsigned integer.
    U64,
    /// 64-bit signed integer.
    I64,
    /// IEEE single precision (`float`).
    F32,
    /// IEEE double precision (`double`).
    F64,
    /// `long double`, handled as raw bytes (16 bytes, 16-aligned on x86-64,
    /// of which the x87 value uses the first 10).
    LongDouble,
    /// A data or code pointer.
    Pointer,
    /// A fixed-length array; valid only inside a struct.
    Array(ArrayType),
    /// A struct (or an aggregate that can only live in memory, see
    /// [`StructType::memory_only`]).
    Struct(StructType),
}

impl Type {
    /// Size in bytes, as `sizeof` gives it.
    pub fn size(&self) -> usize {
        match self {
            Type::Void => 0,
            Type::U8 | Type::I8 => 1,
            Type::U16 | Type::I16 => 2,
            Type::U32 | Type::I32 | Type::F32 => 4,
            Type::U64 | Type::I64 | Type::F64 => 8,
            Type::LongDouble => Target::HOST.long_double_size,
            Type::Pointer => Target::HOST.pointer_size,
            Type::Array(a) => a.size(),
            Type::Struct(s) => s.size(),
        }
    }

    /// Alignment in bytes, as `_Alignof` gives it.
    pub fn align(&self) -> usize {
        match self {
            Type::Void => 1,
            Type::LongDouble => Target::HOST.long_double_align,
            Type::Array(a) => a.element().align(),
            Type::Struct(s) => s.align(),
            scalar => scalar.size(),
        }
    }

    /// Whether this is a signed or unsigned integer type.
    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            Type::U8
                | Type::I8
                | Type::U16
                | Type::I16
                | Type::U32
                | Type::I32
                | Type::U64
                | Type::I64
        )
    }

    /// Whether this is a signed integer type.
    pub fn is_signed_integer(&self) -> bool {
        matches!(self, Type::I8 | Type::I16 | Type::I32 | Type::I64)
    }

    /// Calls `f` with every scalar inside this type and its byte offset
    /// (a scalar is its own single leaf, at 0). Arrays of zero-size
    /// elements hold no leaves and are skipped whatever their length, so
    /// the work is bounded by the size: callers use it on small types only
    /// (values passed in registers).
    pub(crate) fn for_each_leaf(&self, f: &mut impl FnMut(&Type, usize)) {
        fn visit(ty: &Type, base: usize, f: &mut impl FnMut(&Type, usize)) {
            match ty {
                Type::Struct(s) => {
                    for (field, offset) in s.fields().iter().zip(s.offsets()) {
                        visit(field, base + offset, f);
                    }
                }
                Type::Array(a) if a.element().size() == 0 => {}
                Type::Array(a) => {
                    for i in 0..a.len() {
                        visit(a.element(), base + i * a.element().size(), f);
                    }
                }
                leaf => f(leaf, base),
            }
        }
        visit(self, 0, f)
    }

    /// Checks that a value of this type can be passed or returned at `position`.
    pub(crate) fn check_by_value(&self, position: Position) -> Result<()> {
        match self {
            Type::Void if position != Position::Return => Err(Error::VoidValue(position)),
            Type::Array(_) => Err(Error::ArrayByValue(position)),
            Type::Struct(s) => match s.by_value_obstacle() {
                Some(kind) => Err(Error::NotByValue { position, kind }),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// The libffi description of this type. For aggregates the pointer stays
    /// valid as long as `self` (or a clone of it) lives.
    pub(crate) fn ffi_type(&self) -> *mut sys::ffi_type {
        // Addresses of libffi's built-in descriptors, which nothing writes.
        match self {
            Type::Void => &raw mut sys::ffi_type_void,
            Type::U8 => &raw mut sys::ffi_type_uint8,
            Type::I8 => &raw mut sys::ffi_type_sint8,
            Type::U16 => &raw mut sys::ffi_type_uint16,
            Type::I16 => &raw mut sys::ffi_type_sint16,
            Type::U32 => &raw mut sys::ffi_type_uint32,
            Type::I32 => &raw mut sys::ffi_type_sint32,
            Type::U64 => &raw mut sys::ffi_type_uint64,
            Type::I64 => &raw mut sys::ffi_type_sint64,
            Type::F32 => &raw mut sys::ffi_type_float,
            Type::F64 => &raw mut sys::ffi_type_double,
            Type::LongDouble => &raw mut sys::ffi_type_longdouble,
            Type::Pointer => &raw mut sys::ffi_type_pointer,
            Type::Array(_) => unreachable!("arrays are flattened into their struct"),
            Type::Struct(s) => s.ffi_type(),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Void => f.write_str("void"),
            Type::U8 => f.write_str("u8"),
            Type::I8 => f.write_str("i8"),
            Type::U16 => f.write_str("u16"),
            Type::I16 => f.write_str("i16"),
            Type::U32 => f.write_str("u32"),
            Type::I32 => f.write_str("i32"),
            Type::U64 => f.write_str("u64"),
            Type::I64 => f.write_str("i64"),
            Type::F32 => f.write_str("f32"),
            Type::F64 => f.write_str("f64"),
            Type::LongDouble => f.write_str("long double"),
            Type::Pointer => f.write_str("pointer"),
            Type::Array(a) => write!(f, "{}[{}]", a.element(), a.len()),
            Type::Struct(s) => match s.memory_only_kind() {
                Some(kind) => write!(f, "{kind} ({} bytes)", s.size()),
                None => {
                    f.write_str("struct {")?;
                    for (i, field) in s.fields().iter().enumerate() {
                        let sep = if i == 0 { " " } else { ", " };
                        write!(f, "{sep}{field}")?;
                    }
                    f.write_str(" }")
                }
            },
        }
    }
}

/// A fixed-length C array, `element[len]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArrayType(Arc<(Type, usize)>);

impl ArrayType {
    /// `element[len]`. The element must have a size (not `void`), and the
    /// array at most `isize::MAX` bytes.
    pub fn new(element: Type, len: usize) -> Result<ArrayType> {
        if element == Type::Void {
            return Err(Error::Layout("array of void".into()));
        }
        element
            .size()
            .checked_mul(len)
            .and_then(checked_object_size)
            .ok_or_else(|| Error::TooLarge(format!("an array of {len} {element}")))?;
        Ok(ArrayType(Arc::new((element, len))))
    }

    /// The element type.
    pub fn element(&self) -> &Type {
        &self.0.0
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.0.1
    }

    /// Whether the array has no elements (a GNU zero-length array).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `sizeof`.
    pub fn size(&self) -> usize {
        self.element().size() * self.len()
    }
}

/// Why an aggregate can live in memory but cannot be passed by value
/// through libffi.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregateKind {
    /// A union: libffi has no union type.
    Union,
    /// A packed struct: libffi assumes natural alignment.
    Packed,
    /// A struct with bitfields: libffi cannot describe them.
    Bitfields,
    /// A struct of size 0, or one whose zero-size members (GNU zero-length
    /// arrays, empty structs) move later members: libffi has no element
    /// for a zero-size member and would lay the rest out differently.
    ZeroSized,
}

impl fmt::Display for AggregateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggregateKind::Union => "union",
            AggregateKind::Packed => "packed struct",
            AggregateKind::Bitfields => "struct with bitfields",
            AggregateKind::ZeroSized => "zero-sized aggregate",
        })
    }
}

/// A struct with the natural C layout of its fields, or a memory-only
/// aggregate of known size and alignment.
#[derive(Clone)]
pub struct StructType(Arc<StructInner>);

struct StructInner {
    fields: Vec<Type>,
    offsets: Vec<usize>,
    size: usize,
    align: usize,
    memory_only: Option<AggregateKind>,
    /// Why libffi cannot pass this by value (see `by_value_obstacle`).
    obstacle: Option<AggregateKind>,
    /// libffi's description, built on first use (see [`FfiStruct`]).
    ffi: OnceLock<FfiStruct>,
}

/// Types nest (a struct of a struct of ...), and dropping the outermost
/// would drop the others recursively, a stack frame per level: a nesting
/// deep enough, which a program may build, would overflow the stack. The
/// parts only this struct holds are taken out and dropped in a loop.
impl Drop for StructInner {
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.fields);
        while let Some(ty) = pending.pop() {
            match ty {
                Type::Struct(StructType(inner)) => {
                    if let Ok(mut inner) = Arc::try_unwrap(inner) {
                        // Dropped here with no fields left: no recursion.
                        pending.append(&mut inner.fields);
                    }
                }
                Type::Array(ArrayType(inner)) => {
                    if let Ok((element, _)) = Arc::try_unwrap(inner) {
                        pending.push(element);
                    }
                }
                _ => {}
            }
        }
    }
}

impl StructType {
    /// A struct of `fields` laid out as C lays out a struct without
    /// `#pragma pack`: each field at the next multiple of its alignment, the
    /// size rounded up to the largest alignment.
    pub fn new(fields: impl IntoIterator<Item = Type>) -> Result<StructType> {
        let fields: Vec<Type> = fields.into_iter().collect();
        if fields.is_empty() {
            return Err(Error::EmptyStruct);
        }
        let mut offsets = Vec::with_capacity(fields.len());
        let mut end = 0usize;
        let mut align = 1usize;
        let too_large = || Error::TooLarge("the struct".into());
        for (i, field) in fields.iter().enumerate() {
            if *field == Type::Void {
                return Err(Error::Layout(format!("field {i} has type void")));
            }
            let offset = end
                .checked_next_multiple_of(field.align())
                .ok_or_else(too_large)?;
            offsets.push(offset);
            end = offset
                .checked_add(field.size())
                .and_then(checked_object_size)
                .ok_or_else(too_large)?;
            align = align.max(field.align());
        }
        let size = end
            .checked_next_multiple_of(align)
            .and_then(checked_object_size)
            .ok_or_else(too_large)?;
        let obstacle = by_value_obstacle(&fields, &offsets, size);
        Ok(StructType(Arc::new(StructInner {
            fields,
            offsets,
            size,
            align,
            memory_only: None,
            obstacle,
            ffi: OnceLock::new(),
        })))
    }

    /// An aggregate whose layout was computed elsewhere (a union, a packed
    /// struct, a struct with bitfields): usable for sizes and memory, but
    /// rejected when a call interface would pass or return it by value.
    pub fn memory_only(kind: AggregateKind, size: usize, align: usize) -> Result<StructType> {
        if checked_object_size(size).is_none() {
            return Err(Error::TooLarge(format!("a {kind} of {size} bytes")));
        }
        if !align.is_power_of_two() || !size.is_multiple_of(align) {
            return Err(Error::Layout(format!(
                "size {size} with alignment {align}: the alignment must be a power of two dividing the size"
            )));
        }
        Ok(StructType(Arc::new(StructInner {
            fields: Vec::new(),
            offsets: Vec::new(),
            size,
            align,
            memory_only: Some(kind),
            obstacle: Some(kind),
            ffi: OnceLock::new(),
        })))
    }

    /// The member types (empty for a memory-only aggregate).
    pub fn fields(&self) -> &[Type] {
        &self.0.fields
    }

    /// The byte offset of each member.
    pub fn offsets(&self) -> &[usize] {
        &self.0.offsets
    }

    /// `sizeof`.
    pub fn size(&self) -> usize {
        self.0.size
    }

    /// `_Alignof`.
    pub fn align(&self) -> usize {
        self.0.align
    }

    /// `Some(kind)` when this aggregate cannot be passed by value.
    pub fn memory_only_kind(&self) -> Option<AggregateKind> {
        self.0.memory_only
    }

    /// Why this struct cannot be passed or returned by value through libffi
    /// — it is, or contains, a union, a packed struct, a struct with
    /// bitfields, or zero-size members libffi cannot place — or `None`.
    pub fn by_value_obstacle(&self) -> Option<AggregateKind> {
        self.0.obstacle
    }

    fn ffi_type(&self) -> *mut sys::ffi_type {
        let ffi = self.0.ffi.get_or_init(|| FfiStruct::build(self));
        // The pointer targets a heap box owned by `self.0`, so it is stable
        // for as long as this StructType (or a clone) is alive.
        ffi.ty.as_ref() as *const sys::ffi_type as *mut sys::ffi_type
    }
}

impl PartialEq for StructType {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.fields == other.0.fields
                && self.0.size == other.0.size
                && self.0.align == other.0.align
                && self.0.memory_only == other.0.memory_only)
    }
}

impl Eq for StructType {}

impl std::hash::Hash for StructType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.fields.hash(state);
        self.0.size.hash(state);
        self.0.align.hash(state);
    }
}

impl fmt::Debug for StructType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StructType")
            .field("fields", &self.0.fields)
            .field("offsets", &self.0.offsets)
            .field("size", &self.0.size)
            .field("align", &self.0.align)
            .field("memory_only", &self.0.memory_only)
            .finish()
    }
}

/// The largest aggregate whose libffi element list is read when it is
/// passed by value. Larger aggregates travel in memory on every target
/// ffi-raw knows, and libffi decides that from the size alone: x86-64's
/// `classify_argument` returns MEMORY for anything over 32 bytes before
/// reading elements, and aarch64's `is_vfp_type` rejects homogeneous
/// floating-point aggregates over 64 bytes (other aggregates over 16 bytes
/// are passed by reference).
pub(crate) const LIBFFI_CLASSIFIES_UP_TO: usize = 64;

/// `Some(size)` if `size` is a possible object size (at most `isize::MAX`).
pub(crate) fn checked_object_size(size: usize) -> Option<usize> {
    (size <= isize::MAX as usize).then_some(size)
}

/// libffi's description of a struct: a `ffi_type` whose `elements` is a
/// NULL-terminated array of member descriptors.
///
/// Arrays have no libffi type. In a struct small enough to be classified
/// (at most [`LIBFFI_CLASSIFIES_UP_TO`] bytes) a `T[n]` member contributes
/// `n` elements of `T`, so that libffi classifies registers from element
/// offsets that match the C layout exactly; `n` is then at most that many
/// bytes' worth. In a larger struct, which libffi passes in memory without
/// reading its elements, an array member is one opaque element of the
/// array's size and alignment: describing a type never does work (or
/// allocates memory) in proportion to an array's length.
struct FfiStruct {
    ty: Box<sys::ffi_type>,
    /// Pointed to by `ty.elements`; kept alive here.
    _elements: Box<[*mut sys::ffi_type]>,
    /// The opaque descriptors of array members (see above), pointed to by
    /// `_elements`, with their own element lists.
    _arrays: Vec<(Box<sys::ffi_type>, Box<[*mut sys::ffi_type; 2]>)>,
}

// SAFETY: after construction the descriptor is never written again: its size
// and alignment are filled in before any `ffi_prep_cif` sees it (libffi only
// writes them when they are zero), and the element pointers target either
// libffi's static descriptors, descriptors owned by this value, or other
// `StructType`s kept alive by `fields`.
unsafe impl Send for FfiStruct {}
// SAFETY: see `Send`; shared access is read-only.
unsafe impl Sync for FfiStruct {}

impl FfiStruct {
    fn build(s: &StructType) -> FfiStruct {
        let mut elements: Vec<*mut sys::ffi_type> = Vec::new();
        let mut arrays = Vec::new();
        if s.memory_only_kind().is_some() {
            // Never handed to libffi for a call (check_by_value rejects it),
            // but give it a sensible shape anyway.
            elements.push(&raw mut sys::ffi_type_uint8);
        } else if s.size() <= LIBFFI_CLASSIFIES_UP_TO {
            for field in s.fields() {
                push_flattened(field, &mut elements);
            }
        } else {
            for field in s.fields() {
                match field {
                    Type::Array(a) if a.size() > 0 => {
                        let (mut ty, items) = opaque_array(a);
                        elements.push(&mut *ty);
                        arrays.push((ty, items));
                    }
                    other => push_flattened(other, &mut elements),
                }
            }
        }
        elements.push(std::ptr::null_mut());
        let mut elements = elements.into_boxed_slice();
        let ty = Box::new(sys::ffi_type {
            size: s.size(),
            alignment: s.align() as u16,
            type_: sys::FFI_TYPE_STRUCT,
            elements: elements.as_mut_ptr(),
        });
        FfiStruct {
            ty,
            _elements: elements,
            _arrays: arrays,
        }
    }
}

/// libffi's element list for a member: arrays flattened, zero-size members
/// left out (libffi rejects, and writes to, zero-size descriptors). Only
/// for members of structs of at most [`LIBFFI_CLASSIFIES_UP_TO`] bytes,
/// where an array of items with a size has at most that many items.
fn push_flattened(field: &Type, out: &mut Vec<*mut sys::ffi_type>) {
    match field {
        Type::Array(a) if a.size() == 0 => {}
        Type::Array(a) => {
            for _ in 0..a.len() {
                push_flattened(a.element(), out);
            }
        }
        other if other.size() == 0 => {}
        other => out.push(other.ffi_type()),
    }
}

/// One descriptor standing for a whole array (of non-zero size) in a
/// struct libffi passes in memory: a struct of the array's size and
/// alignment whose one element is the innermost item type. libffi uses only
/// its size and alignment (to place later members); the element is there so
/// the descriptor is well-formed.
fn opaque_array(a: &ArrayType) -> (Box<sys::ffi_type>, Box<[*mut sys::ffi_type; 2]>) {
    let mut item = a.element();
    while let Type::Array(inner) = item {
        item = inner.element();
    }
    let mut items = Box::new([item.ffi_type(), std::ptr::null_mut()]);
    let ty = Box::new(sys::ffi_type {
        size: a.size(),
        alignment: a.element().align() as u16,
        type_: sys::FFI_TYPE_STRUCT,
        elements: items.as_mut_ptr(),
    });
    (ty, items)
}

/// Why libffi cannot pass a struct with these members by value, if it
/// cannot: a member that cannot be (searched through arrays), size 0, or
/// zero-size members that make libffi's own layout of the element list
/// (see [`FfiStruct`]) differ from the C layout.
fn by_value_obstacle(fields: &[Type], offsets: &[usize], size: usize) -> Option<AggregateKind> {
    if size == 0 {
        return Some(AggregateKind::ZeroSized);
    }
    fn member_obstacle(ty: &Type) -> Option<AggregateKind> {
        match ty {
            Type::Struct(s) if s.size() > 0 => s.by_value_obstacle(),
            Type::Array(a) => member_obstacle(a.element()),
            _ => None,
        }
    }
    if let Some(kind) = fields.iter().find_map(member_obstacle) {
        return Some(kind);
    }
    // Where libffi places each member with a size: at the next multiple of
    // its alignment after the previous one. An array is placed as a whole:
    // its items' sizes are multiples of their alignment, so each item lands
    // right after the one before whether libffi sees the array flattened or
    // as one element.
    let mut libffi_end = 0usize;
    for (field, offset) in fields.iter().zip(offsets) {
        if field.size() == 0 {
            continue;
        }
        let libffi_offset = libffi_end.next_multiple_of(field.align());
        if libffi_offset != *offset {
            return Some(AggregateKind::ZeroSized);
        }
        libffi_end = libffi_offset + field.size();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_layout_matches_c_rules() {
        let s = StructType::new([Type::I8, Type::I32, Type::I16]).unwrap();
        assert_eq!(s.offsets(), &[0, 4, 8]);
        assert_eq!((s.size(), s.align()), (12, 4));
        let s = StructType::new([Type::F64, Type::I64]).unwrap();
        assert_eq!((s.size(), s.align()), (16, 8));
        let arr = Type::Array(ArrayType::new(Type::I8, 3).unwrap());
        let s = StructType::new([Type::I16, arr, Type::I8]).unwrap();
        assert_eq!(s.offsets(), &[0, 2, 5]);
        assert_eq!((s.size(), s.align()), (6, 2));
        let s = StructType::new([Type::I8, Type::LongDouble]).unwrap();
        assert_eq!((s.size(), s.align(), s.offsets()[1]), (32, 16, 16));
    }

    #[test]
    fn libffi_agrees_with_our_offsets() {
        let inner = StructType::new([Type::I8, Type::F64]).unwrap();
        let arr = Type::Array(ArrayType::new(Type::F32, 3).unwrap());
        let s = StructType::new([Type::I16, Type::Struct(inner), arr, Type::I8]).unwrap();
        let ty = Type::Struct(s.clone()).ffi_type();
        // Elements: i16, struct, f32, f32, f32, i8.
        let mut offsets = [0usize; 6];
        // SAFETY: `ty` is a valid struct descriptor with 6 elements and
        // `offsets` has room for all of them.
        let status = unsafe {
            sys::ffi_get_struct_offsets(sys::ffi_abi_FFI_DEFAULT_ABI, ty, offsets.as_mut_ptr())
        };
        assert_eq!(status, sys::ffi_status_FFI_OK);
        assert_eq!(offsets, [0, 8, 24, 28, 32, 36]);
        assert_eq!(s.offsets(), &[0, 8, 24, 36]);
        assert_eq!(s.size(), 40);
    }

    #[test]
    fn by_value_obstacles() {
        let union = Type::Struct(StructType::memory_only(AggregateKind::Union, 8, 8).unwrap());
        let wrapped = StructType::new([Type::I8, union.clone()]).unwrap();
        assert_eq!(wrapped.by_value_obstacle(), Some(AggregateKind::Union));
        let in_array = Type::Array(ArrayType::new(union, 2).unwrap());
        let deep = StructType::new([Type::Struct(StructType::new([in_array]).unwrap())]).unwrap();
        assert_eq!(deep.by_value_obstacle(), Some(AggregateKind::Union));

        let zero = |ty| Type::Array(ArrayType::new(ty, 0).unwrap());
        let empty = StructType::new([zero(Type::F64)]).unwrap();
        assert_eq!(empty.size(), 0);
        assert_eq!(empty.by_value_obstacle(), Some(AggregateKind::ZeroSized));
        // A zero-size member at an offset libffi reproduces is harmless...
        let fine = StructType::new([Type::F64, Type::Struct(empty.clone()), Type::F64]).unwrap();
        assert_eq!(fine.by_value_obstacle(), None);
        let trailing = StructType::new([Type::I32, zero(Type::F64)]).unwrap();
        assert_eq!((trailing.size(), trailing.by_value_obstacle()), (8, None));
        // ...but one whose alignment moves the next member is not.
        let shifted = StructType::new([Type::I8, zero(Type::F64), Type::I8]).unwrap();
        assert_eq!(shifted.offsets(), &[0, 8, 8]);
        assert_eq!(shifted.by_value_obstacle(), Some(AggregateKind::ZeroSized));
        let check = Type::Struct(shifted).check_by_value(Position::Argument(2));
        assert!(matches!(
            check,
            Err(Error::NotByValue {
                position: Position::Argument(2),
                kind: AggregateKind::ZeroSized
            })
        ));
    }

    #[test]
    fn rejected_layouts() {
        assert!(matches!(StructType::new([]), Err(Error::EmptyStruct)));
        assert!(matches!(
            StructType::new([Type::Void]),
            Err(Error::Layout(_))
        ));
        assert!(ArrayType::new(Type::Void, 2).is_err());
        assert!(matches!(
            ArrayType::new(Type::I64, usize::MAX),
            Err(Error::TooLarge(_))
        ));
        assert!(StructType::memory_only(AggregateKind::Union, 6, 4).is_err());
        assert!(StructType::memory_only(AggregateKind::Union, 6, 3).is_err());
    }

    #[test]
    fn deeply_nested_types_drop_without_recursion() {
        // On a thread with a small stack, where dropping 200,000 levels
        // recursively would overflow it.
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut t = Type::I8;
                for i in 0..200_000 {
                    t = if i % 2 == 0 {
                        Type::Struct(StructType::new([t]).unwrap())
                    } else {
                        Type::Array(ArrayType::new(t, 1).unwrap())
                    };
                }
                drop(t);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn sizes_stop_at_isize_max() {
        let max = isize::MAX as usize;
        assert_eq!(ArrayType::new(Type::U8, max).unwrap().size(), max);
        assert!(matches!(
            ArrayType::new(Type::U8, max + 1),
            Err(Error::TooLarge(_))
        ));
        // 2^63 bytes: fits a usize, not an object.
        assert!(matches!(
            ArrayType::new(Type::I64, 1 << 60),
            Err(Error::TooLarge(_))
        ));
        let half = Type::Array(ArrayType::new(Type::U8, 1 << 62).unwrap());
        assert!(matches!(
            StructType::new([half.clone(), half.clone()]),
            Err(Error::TooLarge(_))
        ));
        // The padding after the last member can cross the limit too.
        let odd = Type::Array(ArrayType::new(Type::U8, max - 1).unwrap());
        assert!(matches!(
            StructType::new([Type::I8, odd, Type::I8]),
            Err(Error::TooLarge(_))
        ));
        assert!(matches!(
            StructType::memory_only(AggregateKind::Union, 1 << 63, 8),
            Err(Error::TooLarge(_))
        ));
    }

    /// Describing a struct must not take work or memory in proportion to
    /// an array's length: these would take hours, or 8 GiB of element
    /// pointers each, if arrays were flattened.
    #[test]
    fn huge_arrays_are_described_compactly() {
        let huge = Type::Array(ArrayType::new(Type::I64, (1 << 59) + 1).unwrap());
        let s = StructType::new([huge.clone(), Type::I64]).unwrap();
        assert_eq!(s.by_value_obstacle(), None);
        assert_eq!(s.offsets(), &[0, (1 << 62) + 8]);
        let cif = crate::Cif::new([Type::Struct(s.clone())], Type::Struct(s.clone())).unwrap();
        assert!(!cif.uses_fast_path());

        let ty = Type::Struct(s).ffi_type();
        let mut offsets = [0usize; 2];
        // SAFETY: `ty` is a valid struct descriptor with 2 elements and
        // `offsets` has room for both.
        let status = unsafe {
            sys::ffi_get_struct_offsets(sys::ffi_abi_FFI_DEFAULT_ABI, ty, offsets.as_mut_ptr())
        };
        assert_eq!(status, sys::ffi_status_FFI_OK);
        assert_eq!(offsets, [0, (1 << 62) + 8]);

        // Nested arrays, and one big array inside a small struct inside a
        // big one.
        let row = Type::Array(ArrayType::new(Type::F32, 1 << 40).unwrap());
        let rows = Type::Array(ArrayType::new(row, 3).unwrap());
        let inner = Type::Struct(StructType::new([Type::I8, Type::F64]).unwrap());
        let cells = Type::Array(ArrayType::new(inner, 1 << 40).unwrap());
        let s = StructType::new([Type::I8, rows, cells, Type::I16]).unwrap();
        assert_eq!(s.by_value_obstacle(), None);
        crate::Cif::new([Type::Struct(s)], Type::Void).unwrap();

        // Arrays of zero-size items hold no elements, however many items.
        let empty = Type::Struct(
            StructType::new([Type::Array(ArrayType::new(Type::I32, 0).unwrap())]).unwrap(),
        );
        let nothing = Type::Array(ArrayType::new(empty, usize::MAX).unwrap());
        assert_eq!(nothing.size(), 0);
        let s = StructType::new([Type::I64, nothing, Type::F64]).unwrap();
        assert_eq!((s.size(), s.by_value_obstacle()), (16, None));
        let cif = crate::Cif::new([Type::Struct(s.clone())], Type::Struct(s)).unwrap();
        assert!(cif.uses_fast_path());
    }

    #[test]
    fn large_structs_keep_the_offsets_libffi_computes() {
        // Over the classification limit: arrays become one element each.
        let a = Type::Array(ArrayType::new(Type::F32, 30).unwrap());
        let b = Type::Array(ArrayType::new(Type::LongDouble, 2).unwrap());
        let s = StructType::new([Type::I8, a, Type::I8, b, Type::I16]).unwrap();
        assert!(s.size() > LIBFFI_CLASSIFIES_UP_TO);
        let ty = Type::Struct(s.clone()).ffi_type();
        let mut offsets = [0usize; 5];
        // SAFETY: `ty` is a valid struct descriptor with 5 elements and
        // `offsets` has room for all of them.
        let status = unsafe {
            sys::ffi_get_struct_offsets(sys::ffi_abi_FFI_DEFAULT_ABI, ty, offsets.as_mut_ptr())
        };
        assert_eq!(status, sys::ffi_status_FFI_OK);
        assert_eq!(offsets, s.offsets());
    }
}
