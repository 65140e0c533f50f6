//! Typed memory: owned, zeroed allocations of C types and bounds-checked
//! views into them.
//!
//! The safe API follows Rust ownership: a [`CBox`] owns its bytes, [`View`]
//! reads through `&CBox`, [`ViewMut`] writes through `&mut CBox`. Every
//! member and element access is checked against the type's layout, so no
//! undefined behaviour is reachable without `unsafe`. Following a pointer
//! read out of C memory cannot be checked — the pointee's validity is
//! unknowable — so [`View::deref`] and [`c_string_at`] are `unsafe` (and
//! refuse NULL).

use std::alloc::{self, Layout};
use std::ffi::c_void;
use std::ptr::NonNull;

use ffi_raw::CScalar;

use crate::ctype::{CType, Field};
use crate::error::{Error, Result};
use crate::layout::BitField;
use crate::value::{Value, read_field, write_field};

/// An owned, zeroed, suitably aligned allocation holding one value of a
/// complete C type.
pub struct CBox {
    ptr: NonNull<u8>,
    layout: Layout,
    size: usize,
    ty: CType,
}

// SAFETY: a CBox owns its allocation exclusively (like Box<[u8]>); shared
// access is read-only and mutation needs `&mut`.
unsafe impl Send for CBox {}
// SAFETY: as above.
unsafe impl Sync for CBox {}

impl CBox {
    /// A zeroed value of `ty` (which must be complete: not `void`, a
    /// function, an opaque struct or `T[]`).
    ///
    /// ```
    /// use ffi_raw::CScalar;
    /// use ffi_typed::{CBox, CType, Value};
    /// let mut ints = CBox::new(CType::array_of(CType::Scalar(CScalar::Int), Some(4))).unwrap();
    /// ints.view_mut().index(2).unwrap().write(&Value::Int(7)).unwrap();
    /// assert_eq!(ints.view().index(2).unwrap().read().unwrap(), Value::Int(7));
    /// assert!(ints.view().index(4).is_err());
    /// ```
    pub fn new(ty: CType) -> Result<CBox> {
        let size = ty.size()?;
        let align = ty.align()?;
        // Zero-size types still get a (one-byte) allocation: a unique address.
        let layout = Layout::from_size_align(size.max(1), align)
            .map_err(|e| Error::Value(format!("{ty}: {e}")))?;
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or_else(|| {
            Error::Value(format!("out of memory allocating {size} bytes for {ty}"))
        })?;
        Ok(CBox {
            ptr,
            layout,
            size,
            ty,
        })
    }

    /// A zeroed value of `ty`, initialised from `value`.
    pub fn with_value(ty: CType, value: &Value) -> Result<CBox> {
        let mut b = CBox::new(ty)?;
        b.view_mut().write(value)?;
        Ok(b)
    }

    /// The type held.
    pub fn ty(&self) -> &CType {
        &self.ty
    }

    /// The address of the value, to pass to C.
    pub fn as_ptr(&self) -> *mut c_void {
        self.ptr.as_ptr().cast()
    }

    /// The value's bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the allocation holds `size` initialised (zeroed or written)
        // bytes, owned by `self` and borrowed immutably here.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.size) }
    }

    /// The value's bytes, mutably.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, borrowed mutably and exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.size) }
    }

    /// A read-only view of the whole value.
    pub fn view(&self) -> View<'_> {
        let addr = self.ptr.as_ptr() as usize;
        View {
            bytes: self.bytes(),
            ty: self.ty.clone(),
            bits: None,
            addr,
        }
    }

    /// A writable view of the whole value.
    pub fn view_mut(&mut self) -> ViewMut<'_> {
        let addr = self.ptr.as_ptr() as usize;
        let ty = self.ty.clone();
        ViewMut {
            bytes: self.bytes_mut(),
            ty,
            bits: None,
            addr,
        }
    }
}

impl Drop for CBox {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

impl std::fmt::Debug for CBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<CBox '{}' owning {} bytes at {:p}>",
            self.ty, self.size, self.ptr
        )
    }
}

/// A typed, bounds-checked, read-only view into memory.
#[derive(Clone, Debug)]
pub struct View<'a> {
    bytes: &'a [u8],
    ty: CType,
    /// Set when the view is a bitfield (then `bytes` starts at its byte).
    bits: Option<BitField>,
    addr: usize,
}

/// A typed, bounds-checked, writable view into memory.
#[derive(Debug)]
pub struct ViewMut<'a> {
    bytes: &'a mut [u8],
    ty: CType,
    bits: Option<BitField>,
    addr: usize,
}

/// Finds a member: its offset, and the member itself.
fn member<'t>(ty: &'t CType, name: &str) -> Result<(usize, &'t Field)> {
    let CType::Record(r) = ty else {
        return Err(Error::Value(format!(
            "{ty} has no members (looking for '{name}')"
        )));
    };
    let body = r.body().ok_or_else(|| Error::Incomplete(ty.to_string()))?;
    body.field(name).ok_or_else(|| Error::UnknownField {
        ty: ty.to_string(),
        field: name.to_string(),
    })
}

/// The element type, size and count of an array type.
fn element(ty: &CType, index: usize) -> Result<(CType, usize)> {
    let CType::Array(elem, Some(len)) = ty else {
        return Err(Error::Value(format!(
            "{ty} cannot be indexed (it is not an array of known length)"
        )));
    };
    if index >= *len {
        return Err(Error::IndexOutOfBounds { index, len: *len });
    }
    Ok(((**elem).clone(), elem.size()?))
}

/// The bytes a member occupies within its record's bytes.
fn member_span(field: &Field, offset: usize) -> Result<(usize, usize)> {
    Ok(match field.bits {
        Some(b) => (offset, (b.shift + b.width).div_ceil(8) as usize),
        None => (offset, field.ty.size()?),
    })
}

impl<'a> View<'a> {
    /// The viewed type.
    pub fn ty(&self) -> &CType {
        &self.ty
    }

    /// The address of the viewed value (of the byte holding a bitfield's
    /// lowest bit).
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// A member by name (also inside anonymous members).
    ///
    /// ```
    /// use ffi_typed::{CBox, Declarations, Value};
    ///
    /// let mut decls = Declarations::new();
    /// decls.parse("struct tagged { int tag; union { long l; double d; }; };").unwrap();
    /// let mut b = CBox::new(decls.parse_type("struct tagged").unwrap()).unwrap();
    /// b.view_mut().field("d").unwrap().write(&Value::Float(0.5)).unwrap();
    /// let d = b.view().field("d").unwrap();
    /// assert_eq!((d.ty().to_string(), d.addr() - b.as_ptr() as usize), ("double".into(), 8));
    /// assert_eq!(d.read().unwrap(), Value::Float(0.5));
    /// ```
    pub fn field(&self, name: &str) -> Result<View<'a>> {
        self.no_bits()?;
        let (offset, field) = member(&self.ty, name)?;
        let (start, len) = member_span(field, offset)?;
        Ok(View {
            bytes: &self.bytes[start..start + len],
            ty: field.ty.clone(),
            bits: field.bits,
            addr: self.addr + start,
        })
    }

    /// An array element; an index past the end is an error.
    pub fn index(&self, index: usize) -> Result<View<'a>> {
        self.no_bits()?;
        let (elem, size) = element(&self.ty, index)?;
        Ok(View {
            bytes: &self.bytes[index * size..(index + 1) * size],
            ty: elem,
            bits: None,
            addr: self.addr + index * size,
        })
    }

    /// The value.
    pub fn read(&self) -> Result<Value> {
        match self.bits {
            Some(bits) => read_field(&self.bitfield(bits), 0, self.bytes),
            None => Value::read_from(&self.ty, self.bytes),
        }
    }

    /// The string in a `char`/`signed char`/`unsigned char` array: the bytes
    /// up to the first NUL, or all of them.
    ///
    /// ```
    /// use ffi_typed::{CBox, Declarations, Value};
    ///
    /// let decls = Declarations::new();
    /// let chars: Vec<Value> = b"hi\0there".iter().map(|&c| Value::Int(c as i128)).collect();
    /// let b = CBox::with_value(decls.parse_type("char[8]").unwrap(), &Value::Array(chars)).unwrap();
    /// assert_eq!(b.view().string().unwrap(), b"hi");
    /// ```
    pub fn string(&self) -> Result<Vec<u8>> {
        match &self.ty {
            CType::Array(elem, Some(_)) if is_char(elem) => {
                let end = self
                    .bytes
                    .iter()
                    .position(|b| *b == 0)
                    .unwrap_or(self.bytes.len());
                Ok(self.bytes[..end].to_vec())
            }
            other => Err(Error::Value(format!("{other} is not a char array"))),
        }
    }

    /// Follows the pointer held here; `len` is the pointee count if known
    /// (`None`: one value). A NULL pointer is an error.
    ///
    /// # Safety
    /// The pointer must point to `len.unwrap_or(1)` valid values of the
    /// pointee type that stay unmodified for `'b`.
    ///
    /// ```
    /// use ffi_typed::{CBox, Declarations, Value};
    ///
    /// let mut decls = Declarations::new();
    /// decls.parse("struct node { int value; struct node *next; };").unwrap();
    /// let node = decls.parse_type("struct node").unwrap();
    /// let mut second = CBox::new(node.clone()).unwrap();
    /// second.view_mut().field("value").unwrap().write(&Value::Int(2)).unwrap();
    /// let mut first = CBox::new(node).unwrap();
    /// let next = Value::Pointer(second.as_ptr() as usize);
    /// first.view_mut().field("next").unwrap().write(&next).unwrap();
    ///
    /// let view = first.view();
    /// // SAFETY: `next` points to `second`, alive and unchanged while used.
    /// let pointee = unsafe { view.field("next").unwrap().deref(None) }.unwrap();
    /// assert_eq!(pointee.field("value").unwrap().read().unwrap(), Value::Int(2));
    /// // SAFETY: NULL is refused before anything is read.
    /// assert!(unsafe { pointee.field("next").unwrap().deref(None) }.is_err());
    /// ```
    pub unsafe fn deref<'b>(&self, len: Option<usize>) -> Result<View<'b>> {
        self.no_bits()?;
        let CType::Pointer(to) = &self.ty else {
            return Err(Error::Value(format!("{} is not a pointer", self.ty)));
        };
        let Value::Pointer(addr) = self.read()? else {
            unreachable!("pointers read as pointers")
        };
        if addr == 0 {
            return Err(Error::NullPointer(self.ty.to_string()));
        }
        let ty = match len {
            Some(n) => CType::array_of((**to).clone(), Some(n)),
            None => (**to).clone(),
        };
        let size = ty.size()?;
        // SAFETY: the caller guarantees `size` valid bytes at `addr` for 'b.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, size) };
        Ok(View {
            bytes,
            ty,
            bits: None,
            addr,
        })
    }

    fn no_bits(&self) -> Result<()> {
        match self.bits {
            Some(_) => Err(Error::Value(format!(
                "a bitfield of type {} has no members, elements or address",
                self.ty
            ))),
            None => Ok(()),
        }
    }

    fn bitfield(&self, bits: BitField) -> Field {
        Field {
            name: None,
            ty: self.ty.clone(),
            offset: 0,
            bits: Some(bits),
        }
    }
}

impl<'a> ViewMut<'a> {
    /// The viewed type.
    pub fn ty(&self) -> &CType {
        &self.ty
    }

    /// The address of the viewed value.
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// A member by name.
    pub fn field(self, name: &str) -> Result<ViewMut<'a>> {
        if self.bits.is_some() {
            return Err(Error::Value(format!(
                "a bitfield of type {} has no members",
                self.ty
            )));
        }
        let (offset, field) = member(&self.ty, name)?;
        let (start, len) = member_span(field, offset)?;
        let (ty, bits) = (field.ty.clone(), field.bits);
        Ok(ViewMut {
            bytes: &mut self.bytes[start..start + len],
            ty,
            bits,
            addr: self.addr + start,
        })
    }

    /// An array element; an index past the end is an error.
    pub fn index(self, index: usize) -> Result<ViewMut<'a>> {
        if self.bits.is_some() {
            return Err(Error::Value(format!(
                "a bitfield of type {} has no elements",
                self.ty
            )));
        }
        let (elem, size) = element(&self.ty, index)?;
        Ok(ViewMut {
            bytes: &mut self.bytes[index * size..(index + 1) * size],
            ty: elem,
            bits: None,
            addr: self.addr + index * size,
        })
    }

    /// The value.
    pub fn read(&self) -> Result<Value> {
        View {
            bytes: self.bytes,
            ty: self.ty.clone(),
            bits: self.bits,
            addr: self.addr,
        }
        .read()
    }

    /// Stores a value: range-checked, nothing written on error.
    pub fn write(&mut self, value: &Value) -> Result<()> {
        let mut scratch = self.bytes.to_vec();
        match self.bits {
            Some(bits) => {
                let field = Field {
                    name: None,
                    ty: self.ty.clone(),
                    offset: 0,
                    bits: Some(bits),
                };
                write_field(&field, 0, value, &mut scratch)?;
            }
            None => value.write_to(&self.ty, &mut scratch)?,
        }
        self.bytes.copy_from_slice(&scratch);
        Ok(())
    }
}

fn is_char(ty: &CType) -> bool {
    matches!(
        ty,
        CType::Scalar(CScalar::Char | CScalar::SChar | CScalar::UChar)
    )
}

/// The NUL-terminated string at `ptr` (without the NUL).
///
/// # Safety
/// Unless NULL (an error), `ptr` must point to a readable NUL-terminated
/// string.
///
/// ```
/// use ffi_typed::c_string_at;
///
/// let s = c"text";
/// // SAFETY: a NUL-terminated string.
/// assert_eq!(unsafe { c_string_at(s.as_ptr().cast()) }.unwrap(), b"text");
/// // SAFETY: NULL is refused.
/// assert!(unsafe { c_string_at(std::ptr::null()) }.is_err());
/// ```
pub unsafe fn c_string_at(ptr: *const c_void) -> Result<Vec<u8>> {
    if ptr.is_null() {
        return Err(Error::NullPointer("char *".into()));
    }
    // SAFETY: the caller guarantees a NUL-terminated string.
    Ok(unsafe { std::ffi::CStr::from_ptr(ptr.cast()) }
        .to_bytes()
        .to_vec())
}

/// The NUL-terminated `wchar_t` string at `ptr`, as code units.
///
/// # Safety
/// Unless NULL (an error), `ptr` must point to a readable `wchar_t` string
/// ended by a zero unit.
pub unsafe fn wide_string_at(ptr: *const c_void) -> Result<Vec<u32>> {
    if ptr.is_null() {
        return Err(Error::NullPointer("wchar_t *".into()));
    }
    let size = CScalar::WChar.raw_type().size();
    let mut out = Vec::new();
    for i in 0.. {
        // SAFETY: every unit up to and including the terminator is readable
        // (caller's contract); unaligned reads accept any address.
        let unit = unsafe {
            let p = ptr.cast::<u8>().add(i * size);
            match size {
                2 => p.cast::<u16>().read_unaligned() as u32,
                _ => p.cast::<u32>().read_unaligned(),
            }
        };
        if unit == 0 {
            break;
        }
        out.push(unit);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctype::RecordKind;
    use crate::layout::{FieldDecl, Packing};

    fn s(x: CScalar) -> CType {
        CType::Scalar(x)
    }

    fn point() -> CType {
        let inner = CType::new_record(RecordKind::Union, None);
        inner
            .complete(
                vec![
                    FieldDecl::new("i", s(CScalar::Int)),
                    FieldDecl::new("f", s(CScalar::Float)),
                ],
                Packing::Natural,
            )
            .unwrap();
        let t = CType::new_record(RecordKind::Struct, Some("point"));
        t.complete(
            vec![
                FieldDecl::new("x", s(CScalar::Short)),
                FieldDecl::bits("flag", s(CScalar::UInt), 1),
                FieldDecl {
                    name: None,
                    ty: inner,
                    bit_width: None,
                },
                FieldDecl::new("name", CType::array_of(s(CScalar::Char), Some(8))),
                FieldDecl::new("next", CType::pointer_to(s(CScalar::Int))),
            ],
            Packing::Natural,
        )
        .unwrap();
        t
    }

    #[test]
    fn fields_elements_and_bitfields() {
        let mut b = CBox::new(point()).unwrap();
        assert!(b.bytes().iter().all(|x| *x == 0), "zeroed");
        b.view_mut()
            .field("x")
            .unwrap()
            .write(&Value::Int(-3))
            .unwrap();
        b.view_mut()
            .field("flag")
            .unwrap()
            .write(&Value::Int(1))
            .unwrap();
        b.view_mut()
            .field("i")
            .unwrap()
            .write(&Value::Int(0x3f800000))
            .unwrap();
        for (i, c) in b"hi".iter().enumerate() {
            b.view_mut()
                .field("name")
                .unwrap()
                .index(i)
                .unwrap()
                .write(&Value::Int(*c as i128))
                .unwrap();
        }
        let v = b.view();
        assert_eq!(v.field("x").unwrap().read().unwrap(), Value::Int(-3));
        assert_eq!(v.field("flag").unwrap().read().unwrap(), Value::Int(1));
        assert_eq!(
            v.field("f").unwrap().read().unwrap(),
            Value::Float(1.0),
            "anonymous union member"
        );
        assert_eq!(v.field("name").unwrap().string().unwrap(), b"hi");
        assert_eq!(v.field("x").unwrap().addr(), b.as_ptr() as usize);
        // Errors, and nothing written on error.
        assert!(matches!(v.field("nope"), Err(Error::UnknownField { .. })));
        assert!(matches!(
            v.field("name").unwrap().index(8),
            Err(Error::IndexOutOfBounds { index: 8, len: 8 })
        ));
        let err = b
            .view_mut()
            .field("flag")
            .unwrap()
            .write(&Value::Int(2))
            .unwrap_err();
        assert!(matches!(err, Error::OutOfRange(_)), "{err}");
        assert_eq!(
            b.view().field("flag").unwrap().read().unwrap(),
            Value::Int(1)
        );
        assert!(b.view().field("flag").unwrap().field("x").is_err());
    }

    #[test]
    fn pointers_and_strings() {
        let target = CBox::with_value(s(CScalar::Int), &Value::Int(99)).unwrap();
        let mut b = CBox::new(point()).unwrap();
        let v = b.view();
        // SAFETY: the pointer is NULL, which deref refuses before reading.
        let err = unsafe { v.field("next").unwrap().deref(None) }.unwrap_err();
        assert_eq!(
            err.to_string(),
            "dereferencing a NULL pointer of type int *"
        );
        b.view_mut()
            .field("next")
            .unwrap()
            .write(&Value::Pointer(target.as_ptr() as usize))
            .unwrap();
        // SAFETY: `next` points to `target`, alive and unmodified meanwhile.
        let pointee = unsafe { b.view().field("next").unwrap().deref(None) }.unwrap();
        assert_eq!(pointee.read().unwrap(), Value::Int(99));
        let text = std::ffi::CString::new("abc").unwrap();
        // SAFETY: a valid C string, and NULL (refused).
        unsafe {
            assert_eq!(c_string_at(text.as_ptr().cast()).unwrap(), b"abc");
            assert!(c_string_at(std::ptr::null()).is_err());
        }
        let wide: Vec<u32> = "hé\0".chars().map(|c| c as u32).collect();
        // SAFETY: a zero-terminated wchar_t (4-byte) string.
        let units = unsafe { wide_string_at(wide.as_ptr().cast()) }.unwrap();
        assert_eq!(units, vec![104, 233]);
    }

    #[test]
    fn incomplete_types_cannot_be_allocated() {
        assert!(matches!(CBox::new(CType::Void), Err(Error::Incomplete(_))));
        let opaque = CType::new_record(RecordKind::Struct, Some("opaque"));
        assert!(matches!(CBox::new(opaque), Err(Error::Incomplete(_))));
        let big = CBox::new(CType::array_of(s(CScalar::Double), Some(3))).unwrap();
        assert_eq!(big.as_ptr() as usize % 8, 0, "aligned");
        assert_eq!(
            format!("{big:?}").split(" at ").next().unwrap(),
            "<CBox 'double[3]' owning 24 bytes"
        );
    }
}
