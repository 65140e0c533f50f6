//! Values: C data as Rust sees it, converted to and from C bytes by type.

use std::fmt;

use ffi_raw::{CScalar, Type};

use crate::ctype::{CType, Field, RecordKind};
use crate::error::{Error, Result};

/// A C value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Any integer, `_Bool`, character or enum value.
    Int(i128),
    /// `float` or `double`.
    Float(f64),
    /// `long double`, as the target's bytes (x87: 10 significant bytes).
    LongDouble([u8; 16]),
    /// A pointer, as an address.
    Pointer(usize),
    /// Struct or union members in declaration order (`None` for an unnamed
    /// member); for a union, the first member (or the one given) is used.
    Record(Vec<(Option<String>, Value)>),
    /// Array elements.
    Array(Vec<Value>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::LongDouble(_) => f.write_str("<long double>"),
            Value::Pointer(p) => write!(f, "0x{p:x}"),
            Value::Record(members) => write!(f, "{{{} members}}", members.len()),
            Value::Array(items) => write!(f, "[{} items]", items.len()),
        }
    }
}

/// `ty.size()`, checked against a buffer of `len` bytes.
fn sized_for(ty: &CType, len: usize) -> Result<usize> {
    let size = ty.size()?;
    if len != size {
        return Err(Error::Value(format!(
            "{ty} needs {size} bytes, the buffer has {len}"
        )));
    }
    Ok(size)
}

fn mismatch(ty: &CType, value: &Value) -> Error {
    Error::Value(format!("cannot store {value} in {ty}"))
}

fn out_of_range(ty: &CType, v: i128, (min, max): (i128, i128)) -> Error {
    Error::OutOfRange(format!("{v} does not fit in {ty} (range {min} to {max})"))
}

/// How an integer-like C type is stored, and so which values it holds: the
/// one set of integer layout and range rules (ffi-py's conversions, hot
/// paths included, take their ranges from here).
///
/// ```
/// use ffi_raw::CScalar;
/// use ffi_typed::{CType, IntLayout};
///
/// let uchar = IntLayout::of(&CType::Scalar(CScalar::UChar)).unwrap();
/// assert_eq!(uchar.range(), (0, 255));
/// let int = IntLayout::of(&CType::Scalar(CScalar::Int)).unwrap();
/// assert_eq!(int.range(), (-(1 << 31), (1 << 31) - 1));
/// assert_eq!(int.bitfield_range(3), (-4, 3));
/// let bool_ = IntLayout::of(&CType::Scalar(CScalar::Bool)).unwrap();
/// assert_eq!((bool_.range(), bool_.bitfield_range(1)), ((0, 1), (0, 1)));
/// assert!(IntLayout::of(&CType::Scalar(CScalar::Double)).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntLayout {
    /// Bytes in memory.
    pub size: usize,
    /// Two's complement (else unsigned).
    pub signed: bool,
    /// `_Bool`: one byte holding 0 or 1.
    pub is_bool: bool,
}

impl IntLayout {
    /// The layout of an integer type, `_Bool`, a character type (C's
    /// `char` is an integer) or an enum (its underlying type); `None` for
    /// anything else.
    pub fn of(ty: &CType) -> Option<IntLayout> {
        let scalar = match ty {
            CType::Scalar(s) => *s,
            CType::Enum(e) => e.underlying,
            _ => return None,
        };
        if scalar == CScalar::Bool {
            return Some(IntLayout {
                size: 1,
                signed: false,
                is_bool: true,
            });
        }
        IntLayout::of_raw(&scalar.raw_type())
    }

    /// The layout of a raw integer type (`i8` ... `u64`); `None` for
    /// anything else.
    pub fn of_raw(ty: &ffi_raw::Type) -> Option<IntLayout> {
        ty.is_integer().then(|| IntLayout {
            size: ty.size(),
            signed: ty.is_signed_integer(),
            is_bool: false,
        })
    }

    /// The smallest and largest value the type holds.
    #[inline]
    pub const fn range(self) -> (i128, i128) {
        if self.is_bool {
            return (0, 1);
        }
        self.bitfield_range(self.size as u32 * 8)
    }

    /// The smallest and largest value a bitfield of this type and `width`
    /// bits holds (a `_Bool` bitfield holds 0 and 1 whatever its width).
    #[inline]
    pub const fn bitfield_range(self, width: u32) -> (i128, i128) {
        if self.is_bool {
            (0, 1)
        } else if self.signed {
            let half = 1i128 << (width - 1);
            (-half, half - 1)
        } else if width >= 127 {
            (0, i128::MAX)
        } else {
            (0, (1i128 << width) - 1)
        }
    }
}

impl Value {
    /// Encodes this value as `ty` into `out` (exactly `ty.size()` bytes).
    ///
    /// Integers out of range are an error, never truncated; `_Bool` takes
    /// only 0 and 1; records and arrays may give fewer members than the
    /// type has (the rest are left as they are).
    ///
    /// ```
    /// use ffi_typed::{Declarations, Value};
    ///
    /// let mut decls = Declarations::new();
    /// decls.parse("struct rgb { unsigned char r, g, b; };").unwrap();
    /// let rgb = decls.parse_type("struct rgb").unwrap();
    /// let mut bytes = [0u8; 3];
    /// let orange = Value::Record(vec![
    ///     (Some("r".into()), Value::Int(255)),
    ///     (Some("g".into()), Value::Int(165)),
    /// ]);
    /// orange.write_to(&rgb, &mut bytes).unwrap();
    /// assert_eq!(bytes, [255, 165, 0]);
    /// assert!(Value::Int(256).write_to(&decls.parse_type("unsigned char").unwrap(), &mut bytes[..1]).is_err());
    /// assert_eq!(
    ///     Value::read_from(&rgb, &bytes).unwrap(),
    ///     Value::Record(vec![
    ///         (Some("r".into()), Value::Int(255)),
    ///         (Some("g".into()), Value::Int(165)),
    ///         (Some("b".into()), Value::Int(0)),
    ///     ])
    /// );
    /// ```
    pub fn write_to(&self, ty: &CType, out: &mut [u8]) -> Result<()> {
        let size = sized_for(ty, out.len())?;
        if let Some(layout) = IntLayout::of(ty) {
            let Value::Int(v) = *self else {
                return Err(mismatch(ty, self));
            };
            let range = layout.range();
            if v < range.0 || v > range.1 {
                return Err(out_of_range(ty, v, range));
            }
            out.copy_from_slice(&v.to_le_bytes()[..layout.size]);
            return Ok(());
        }
        match (ty, self) {
            (CType::Scalar(s), Value::Float(v)) => match s.raw_type() {
                Type::F32 => out.copy_from_slice(&(*v as f32).to_le_bytes()),
                Type::F64 => out.copy_from_slice(&v.to_le_bytes()),
                _ => return Err(mismatch(ty, self)),
            },
            (CType::Scalar(CScalar::LongDouble), Value::LongDouble(bytes)) => {
                out.copy_from_slice(&bytes[..size])
            }
            (CType::Pointer(_), Value::Pointer(p)) => out.copy_from_slice(&p.to_le_bytes()[..size]),
            (CType::Array(elem, _), Value::Array(items)) => {
                let elem_size = elem.size()?;
                let len = size / elem_size.max(1);
                if items.len() > len {
                    return Err(Error::IndexOutOfBounds {
                        index: items.len() - 1,
                        len,
                    });
                }
                for (i, item) in items.iter().enumerate() {
                    item.write_to(elem, &mut out[i * elem_size..(i + 1) * elem_size])?;
                }
            }
            (CType::Record(r), Value::Record(members)) => {
                let body = r.body().ok_or_else(|| Error::Incomplete(ty.to_string()))?;
                if r.kind() == RecordKind::Union && members.len() > 1 {
                    return Err(Error::Value(format!(
                        "{ty}: a union is initialised from one member"
                    )));
                }
                for (i, (name, value)) in members.iter().enumerate() {
                    let (offset, field) = match name {
                        Some(name) => body.field(name).ok_or_else(|| Error::UnknownField {
                            ty: ty.to_string(),
                            field: name.clone(),
                        })?,
                        None => {
                            let field = body.fields.get(i).ok_or_else(|| {
                                Error::Value(format!(
                                    "{ty} has {} members, {} given",
                                    body.fields.len(),
                                    members.len()
                                ))
                            })?;
                            (field.offset, field)
                        }
                    };
                    write_field(field, offset, value, out)?;
                }
            }
            _ => return Err(mismatch(ty, self)),
        }
        Ok(())
    }

    /// Decodes a value of `ty` from `bytes` (exactly `ty.size()` bytes).
    pub fn read_from(ty: &CType, bytes: &[u8]) -> Result<Value> {
        let size = sized_for(ty, bytes.len())?;
        if let Some(layout) = IntLayout::of(ty) {
            return Ok(Value::Int(int_from_le(bytes, layout.size, layout.signed)));
        }
        Ok(match ty {
            CType::Scalar(s) => match s.raw_type() {
                Type::F32 => {
                    Value::Float(f32::from_le_bytes(bytes.try_into().expect("4 bytes")) as f64)
                }
                Type::F64 => Value::Float(f64::from_le_bytes(bytes.try_into().expect("8 bytes"))),
                Type::LongDouble => {
                    let mut out = [0u8; 16];
                    out[..size].copy_from_slice(bytes);
                    Value::LongDouble(out)
                }
                _ => unreachable!("integers handled above"),
            },
            CType::Pointer(_) => Value::Pointer(int_from_le(bytes, size, false) as usize),
            CType::Array(elem, _) => {
                let elem_size = elem.size()?;
                let items = if elem_size == 0 {
                    Vec::new()
                } else {
                    bytes
                        .chunks(elem_size)
                        .map(|chunk| Value::read_from(elem, chunk))
                        .collect::<Result<_>>()?
                };
                Value::Array(items)
            }
            CType::Record(r) => {
                let body = r.body().ok_or_else(|| Error::Incomplete(ty.to_string()))?;
                let fields: &[Field] = match r.kind() {
                    RecordKind::Struct => &body.fields,
                    RecordKind::Union => &body.fields[..body.fields.len().min(1)],
                };
                let members = fields
                    .iter()
                    .map(|f| Ok((f.name.clone(), read_field(f, f.offset, bytes)?)))
                    .collect::<Result<_>>()?;
                Value::Record(members)
            }
            CType::Void | CType::Function(_) | CType::Enum(_) | CType::Placeholder(_) => {
                return Err(Error::Incomplete(ty.to_string()));
            }
        })
    }
}

impl Value {
    /// Pointer arithmetic: `p + n` for a pointer `p` of type `ty` (`T *`),
    /// moving by `n` elements of `T`. Computing an address touches no
    /// memory, so this is safe; `T` must be complete and the address must
    /// not wrap.
    ///
    /// ```
    /// use ffi_raw::CScalar;
    /// use ffi_typed::{CType, Value};
    /// let int_ptr = CType::pointer_to(CType::Scalar(CScalar::Int));
    /// assert_eq!(Value::Pointer(0x1000).pointer_add(&int_ptr, 3).unwrap(), Value::Pointer(0x100c));
    /// assert!(Value::Pointer(0x1000).pointer_add(&CType::pointer_to(CType::Void), 1).is_err());
    /// ```
    pub fn pointer_add(&self, ty: &CType, n: isize) -> Result<Value> {
        let (CType::Pointer(to), Value::Pointer(p)) = (ty, self) else {
            return Err(Error::Value(format!(
                "pointer arithmetic needs a pointer, not {self} of type {ty}"
            )));
        };
        let step = to.size()? as isize;
        let moved = n
            .checked_mul(step)
            .and_then(|delta| p.checked_add_signed(delta))
            .ok_or_else(|| {
                Error::OutOfRange(format!(
                    "0x{p:x} + {n} elements of {to} leaves the address space"
                ))
            })?;
        Ok(Value::Pointer(moved))
    }
}

impl Value {
    /// Reads the member `field` of a record whose bytes are `record`
    /// (`offset` is the member's offset from the record's start, which
    /// differs from `field.offset` for members of anonymous members):
    /// whole bytes, or a bitfield's bits sign-extended for signed types.
    pub fn read_member(field: &Field, offset: usize, record: &[u8]) -> Result<Value> {
        read_field(field, offset, record)
    }

    /// Writes this value into the member `field` of the record `record`
    /// (see [`Value::read_member`]); a bitfield is range-checked against its
    /// width and only its bits change.
    pub fn write_member(&self, field: &Field, offset: usize, record: &mut [u8]) -> Result<()> {
        write_field(field, offset, self, record)
    }

    /// A `long double` holding `v` exactly (every `f64` is representable).
    ///
    /// ```
    /// use ffi_typed::Value;
    /// let v = Value::long_double_from_f64(-2.5);
    /// assert_eq!(v.long_double_to_f64(), Some(-2.5));
    /// ```
    pub fn long_double_from_f64(v: f64) -> Value {
        Value::LongDouble(long_double::from_f64(v))
    }

    /// The nearest `f64` to a `long double` (round to nearest, ties to
    /// even; out-of-range values become infinities); `None` for other values.
    pub fn long_double_to_f64(&self) -> Option<f64> {
        match self {
            Value::LongDouble(bytes) => Some(long_double::to_f64(bytes)),
            _ => None,
        }
    }
}

/// Conversions between `f64` and the x86-64 `long double` (x87 80-bit
/// extended precision: 64-bit significand with an explicit integer bit,
/// 15-bit exponent biased by 16383, then the sign).
mod long_double {
    const F64_BIAS: i32 = 1023;
    const X87_BIAS: i32 = 16383;

    pub(super) fn from_f64(v: f64) -> [u8; 16] {
        let bits = v.to_bits();
        let sign = (bits >> 63) as u16;
        let exp = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1 << 52) - 1);
        let (exp16, mant): (u16, u64) = if exp == 0x7ff {
            // Infinity or NaN (the quiet bit carries over into bit 62).
            (0x7fff, (1 << 63) | (frac << 11))
        } else if exp == 0 && frac == 0 {
            (0, 0)
        } else if exp == 0 {
            // Subnormal f64: normalise, since x87's range is wider.
            let shift = frac.leading_zeros() - 11;
            let e = 1 - F64_BIAS - shift as i32;
            ((e + X87_BIAS) as u16, (frac << 11) << shift)
        } else {
            ((exp - F64_BIAS + X87_BIAS) as u16, (1 << 63) | (frac << 11))
        };
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&mant.to_le_bytes());
        out[8..10].copy_from_slice(&(exp16 | (sign << 15)).to_le_bytes());
        out
    }

    pub(super) fn to_f64(bytes: &[u8; 16]) -> f64 {
        let mant = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let top = u16::from_le_bytes([bytes[8], bytes[9]]);
        let negative = top >> 15 == 1;
        let exp = i32::from(top & 0x7fff);
        let signed = |x: f64| if negative { -x } else { x };
        if exp == 0x7fff {
            return if mant << 1 == 0 {
                signed(f64::INFINITY)
            } else {
                f64::NAN
            };
        }
        if mant == 0 {
            return signed(0.0);
        }
        // value = mant * 2^(exp - X87_BIAS - 63), denormals at exp 0 use exp 1.
        let e = exp.max(1) - X87_BIAS - 63;
        signed(scale(mant, e))
    }

    /// `m * 2^e`, correctly rounded to f64.
    fn scale(m: u64, e: i32) -> f64 {
        let lz = m.leading_zeros() as i32;
        let m = m << lz;
        let e = e - lz;
        // The unbiased exponent of the leading bit.
        let lead = e + 63;
        if lead > 1023 {
            return f64::INFINITY;
        }
        // Bits of precision available: 53 for normal results, fewer below.
        let keep = if lead >= -1022 {
            53
        } else {
            53 - (-1022 - lead)
        };
        if keep <= 0 {
            // Below half the smallest subnormal (or exactly half: ties to even 0).
            let half_min = -1075;
            return if lead > half_min || (lead == half_min && m << 1 != 0) {
                f64::from_bits(1)
            } else {
                0.0
            };
        }
        let drop = 64 - keep as u32;
        let mut kept = m >> drop;
        let rest = m << (64 - drop);
        let half = 1u64 << 63;
        if rest > half || (rest == half && kept & 1 == 1) {
            kept += 1;
        }
        // kept * 2^(e + drop); multiply in two exact steps (powers of two).
        let exp2 = e + drop as i32;
        let step = |x: f64, k: i32| x * f64::from_bits(((k + F64_BIAS) as u64) << 52);
        let half_exp = exp2 / 2;
        step(step(kept as f64, half_exp), exp2 - half_exp)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trips_and_known_encodings() {
            for v in [
                0.0,
                -0.0,
                1.0,
                -2.5,
                1e300,
                -1e-300,
                f64::MIN_POSITIVE,
                5e-324,
                f64::MAX,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ] {
                assert_eq!(to_f64(&from_f64(v)).to_bits(), v.to_bits(), "{v}");
            }
            assert!(to_f64(&from_f64(f64::NAN)).is_nan());
            // 1.0 is 0x3fff:8000000000000000.
            let one = from_f64(1.0);
            assert_eq!(&one[..10], &[0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
            // 1 + 2^-63 rounds to 1.0; 1 + 2^-52 + 2^-53 rounds to even (up).
            let mut b = from_f64(1.0);
            b[0] = 1;
            assert_eq!(to_f64(&b), 1.0);
            let mut b = from_f64(1.0);
            b[..8].copy_from_slice(&((1u64 << 63) | (1 << 11) | (1 << 10)).to_le_bytes());
            assert_eq!(to_f64(&b), 1.0 + 2.0 * f64::EPSILON);
            // A value beyond f64's range overflows to infinity.
            let mut b = from_f64(1.0);
            b[8..10].copy_from_slice(&0x7000u16.to_le_bytes());
            assert_eq!(to_f64(&b), f64::INFINITY);
        }
    }
}

fn int_from_le(bytes: &[u8], size: usize, signed: bool) -> i128 {
    let mut buf = [0u8; 16];
    buf[..size].copy_from_slice(&bytes[..size]);
    let raw = u128::from_le_bytes(buf);
    let bits = size as u32 * 8;
    if signed && bits < 128 && raw >> (bits - 1) & 1 == 1 {
        (raw | (!0u128 << bits)) as i128
    } else {
        raw as i128
    }
}

/// Writes one member: whole bytes, or a bitfield's bits (range-checked
/// against its width).
pub(crate) fn write_field(
    field: &Field,
    offset: usize,
    value: &Value,
    out: &mut [u8],
) -> Result<()> {
    let Some(bits) = field.bits else {
        let size = field.ty.size()?;
        let end = offset + size;
        let slot = out
            .get_mut(offset..end)
            .ok_or_else(|| Error::Value("member outside its record".into()))?;
        return value.write_to(&field.ty, slot);
    };
    let layout = IntLayout::of(&field.ty).expect("bitfields have integer types");
    let Value::Int(v) = *value else {
        return Err(mismatch(&field.ty, value));
    };
    let width = bits.width;
    let range = layout.bitfield_range(width);
    if v < range.0 || v > range.1 {
        return Err(Error::OutOfRange(format!(
            "{v} does not fit in the {width}-bit field {} (range {} to {})",
            field.name.as_deref().unwrap_or("<unnamed>"),
            range.0,
            range.1
        )));
    }
    let span = (bits.shift + width).div_ceil(8) as usize;
    let slot = out
        .get_mut(offset..offset + span)
        .ok_or_else(|| Error::Value("bitfield outside its record".into()))?;
    let mut buf = [0u8; 16];
    buf[..span].copy_from_slice(slot);
    let mask = ((1u128 << width) - 1) << bits.shift;
    let word = (u128::from_le_bytes(buf) & !mask) | (((v as u128) << bits.shift) & mask);
    slot.copy_from_slice(&word.to_le_bytes()[..span]);
    Ok(())
}

/// Reads one member (whole bytes or a bitfield's bits, sign-extended for
/// signed types).
pub(crate) fn read_field(field: &Field, offset: usize, bytes: &[u8]) -> Result<Value> {
    let Some(bits) = field.bits else {
        let size = field.ty.size()?;
        let slot = bytes
            .get(offset..offset + size)
            .ok_or_else(|| Error::Value("member outside its record".into()))?;
        return Value::read_from(&field.ty, slot);
    };
    let IntLayout {
        signed, is_bool, ..
    } = IntLayout::of(&field.ty).expect("bitfields have integer types");
    let span = (bits.shift + bits.width).div_ceil(8) as usize;
    let slot = bytes
        .get(offset..offset + span)
        .ok_or_else(|| Error::Value("bitfield outside its record".into()))?;
    let mut buf = [0u8; 16];
    buf[..span].copy_from_slice(slot);
    let raw = (u128::from_le_bytes(buf) >> bits.shift) & ((1u128 << bits.width) - 1);
    let v = if signed && !is_bool && raw >> (bits.width - 1) & 1 == 1 {
        (raw | (!0u128 << bits.width)) as i128
    } else {
        raw as i128
    };
    Ok(Value::Int(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{FieldDecl, Packing};

    fn s(x: CScalar) -> CType {
        CType::Scalar(x)
    }

    fn roundtrip(ty: &CType, v: Value) -> Value {
        let mut buf = vec![0u8; ty.size().unwrap()];
        v.write_to(ty, &mut buf).unwrap();
        Value::read_from(ty, &buf).unwrap()
    }

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(
            roundtrip(&s(CScalar::SChar), Value::Int(-128)),
            Value::Int(-128)
        );
        assert_eq!(
            roundtrip(&s(CScalar::ULongLong), Value::Int(u64::MAX as i128)),
            Value::Int(u64::MAX as i128)
        );
        let mut buf = [0u8; 1];
        let err = Value::Int(128)
            .write_to(&s(CScalar::SChar), &mut buf)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "integer out of range: 128 does not fit in signed char (range -128 to 127)"
        );
        assert!(Value::Int(2).write_to(&s(CScalar::Bool), &mut buf).is_err());
        assert!(
            Value::Float(1.0)
                .write_to(&s(CScalar::Int), &mut [0; 4])
                .is_err()
        );
    }

    #[test]
    fn structs_bitfields_and_arrays() {
        let t = CType::new_record(RecordKind::Struct, Some("bits"));
        t.complete(
            vec![
                FieldDecl::bits("a", s(CScalar::Int), 3),
                FieldDecl::bits("b", s(CScalar::UInt), 9),
                FieldDecl::new("arr", CType::array_of(s(CScalar::Short), Some(2))),
                FieldDecl::new("d", s(CScalar::Double)),
            ],
            Packing::Natural,
        )
        .unwrap();
        let v = Value::Record(vec![
            (Some("a".into()), Value::Int(-4)),
            (Some("b".into()), Value::Int(511)),
            (
                Some("arr".into()),
                Value::Array(vec![Value::Int(-1), Value::Int(7)]),
            ),
            (Some("d".into()), Value::Float(2.5)),
        ]);
        assert_eq!(roundtrip(&t, v.clone()), v);
        let mut buf = vec![0u8; t.size().unwrap()];
        let err = Value::Record(vec![(Some("a".into()), Value::Int(4))])
            .write_to(&t, &mut buf)
            .unwrap_err();
        assert!(err.to_string().contains("3-bit field a"), "{err}");
        let err = Value::Record(vec![(Some("zz".into()), Value::Int(4))])
            .write_to(&t, &mut buf)
            .unwrap_err();
        assert!(matches!(err, Error::UnknownField { .. }), "{err}");
        let arr = CType::array_of(s(CScalar::Int), Some(2));
        let err = Value::Array(vec![Value::Int(1); 3])
            .write_to(&arr, &mut [0; 8])
            .unwrap_err();
        assert!(
            matches!(err, Error::IndexOutOfBounds { index: 2, len: 2 }),
            "{err}"
        );
    }

    /// The ranges against Rust's own integer types (an oracle that does
    /// not share the rule).
    #[test]
    fn int_layout_ranges_are_the_fixed_width_types() {
        use ffi_raw::Type;
        let cases: [(Type, (i128, i128)); 8] = [
            (Type::I8, (i8::MIN.into(), i8::MAX.into())),
            (Type::U8, (u8::MIN.into(), u8::MAX.into())),
            (Type::I16, (i16::MIN.into(), i16::MAX.into())),
            (Type::U16, (u16::MIN.into(), u16::MAX.into())),
            (Type::I32, (i32::MIN.into(), i32::MAX.into())),
            (Type::U32, (u32::MIN.into(), u32::MAX.into())),
            (Type::I64, (i64::MIN.into(), i64::MAX.into())),
            (Type::U64, (u64::MIN.into(), u64::MAX.into())),
        ];
        for (ty, range) in cases {
            assert_eq!(IntLayout::of_raw(&ty).unwrap().range(), range, "{ty:?}");
        }
        assert_eq!(IntLayout::of(&s(CScalar::Bool)).unwrap().range(), (0, 1));
        assert_eq!(IntLayout::of_raw(&Type::F64), None);
        let uint = IntLayout::of(&s(CScalar::UInt)).unwrap();
        assert_eq!(uint.bitfield_range(5), (0, 31));
        assert_eq!(uint.bitfield_range(32), (0, u32::MAX.into()));
        let int = IntLayout::of(&s(CScalar::Int)).unwrap();
        assert_eq!(int.bitfield_range(1), (-1, 0));
        assert_eq!(int.bitfield_range(32), (i32::MIN.into(), i32::MAX.into()));
    }

    proptest::proptest! {
        #[test]
        fn integer_roundtrip_or_range_error(index in 0usize..CScalar::ALL.len(), v in proptest::num::i128::ANY) {
            let scalar = CScalar::ALL[index];
            let ty = s(scalar);
            let Some(layout) = IntLayout::of(&ty) else { return Ok(()) };
            let (size, (min, max)) = (layout.size, layout.range());
            // Aim half the cases inside the range.
            let v = if v % 2 == 0 { min + v.rem_euclid(max - min + 1) } else { v };
            let mut buf = vec![0xAAu8; size];
            match Value::Int(v).write_to(&ty, &mut buf) {
                Ok(()) => {
                    proptest::prop_assert!(min <= v && v <= max);
                    proptest::prop_assert_eq!(Value::read_from(&ty, &buf).unwrap(), Value::Int(v));
                }
                Err(Error::OutOfRange(_)) => {
                    proptest::prop_assert!(v < min || v > max);
                    proptest::prop_assert!(buf.iter().all(|b| *b == 0xAA), "nothing written on error");
                }
                Err(e) => proptest::prop_assert!(false, "unexpected error {e}"),
            }
        }
    }
}
