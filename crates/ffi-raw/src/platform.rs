//! Platform facts: how big each C scalar is on this target and how it is
//! passed. Everything target-specific in the crate reads from [`Target::HOST`],
//! so supporting another target means adding a table here, not a rewrite.

use crate::types::Type;

/// The C scalar types by their C names.
///
/// [`CScalar::raw_type`] maps each to the fixed-width [`Type`] that the host C
/// compiler uses for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CScalar {
    /// `_Bool`
    Bool,
    /// `char` (signedness per [`Target::char_is_signed`])
    Char,
    /// `signed char`
    SChar,
    /// `unsigned char`
    UChar,
    /// `short`
    Short,
    /// `unsigned short`
    UShort,
    /// `int`
    Int,
    /// `unsigned int`
    UInt,
    /// `long`
    Long,
    /// `unsigned long`
    ULong,
    /// `long long`
    LongLong,
    /// `unsigned long long`
    ULongLong,
    /// `int8_t`
    Int8,
    /// `uint8_t`
    UInt8,
    /// `int16_t`
    Int16,
    /// `uint16_t`
    UInt16,
    /// `int32_t`
    Int32,
    /// `uint32_t`
    UInt32,
    /// `int64_t`
    Int64,
    /// `uint64_t`
    UInt64,
    /// `size_t`
    SizeT,
    /// `ssize_t`
    SSizeT,
    /// `intptr_t`
    IntPtr,
    /// `uintptr_t`
    UIntPtr,
    /// `ptrdiff_t`
    PtrDiff,
    /// `float`
    Float,
    /// `double`
    Double,
    /// `long double`
    LongDouble,
    /// any object or function pointer
    Pointer,
    /// `wchar_t` (size and signedness per [`Target`])
    WChar,
    /// `char16_t`
    Char16,
    /// `char32_t`
    Char32,
}

impl CScalar {
    /// Every C scalar, in declaration order.
    pub const ALL: [CScalar; 32] = [
        CScalar::Bool,
        CScalar::Char,
        CScalar::SChar,
        CScalar::UChar,
        CScalar::Short,
        CScalar::UShort,
        CScalar::Int,
        CScalar::UInt,
        CScalar::Long,
        CScalar::ULong,
        CScalar::LongLong,
        CScalar::ULongLong,
        CScalar::Int8,
        CScalar::UInt8,
        CScalar::Int16,
        CScalar::UInt16,
        CScalar::Int32,
        CScalar::UInt32,
        CScalar::Int64,
        CScalar::UInt64,
        CScalar::SizeT,
        CScalar::SSizeT,
        CScalar::IntPtr,
        CScalar::UIntPtr,
        CScalar::PtrDiff,
        CScalar::Float,
        CScalar::Double,
        CScalar::LongDouble,
        CScalar::Pointer,
        CScalar::WChar,
        CScalar::Char16,
        CScalar::Char32,
    ];

    /// The C spelling of this type.
    pub fn c_name(self) -> &'static str {
        match self {
            CScalar::Bool => "_Bool",
            CScalar::Char => "char",
            CScalar::SChar => "signed char",
            CScalar::UChar => "unsigned char",
            CScalar::Short => "short",
            CScalar::UShort => "unsigned short",
            CScalar::Int => "int",
            CScalar::UInt => "unsigned int",
            CScalar::Long => "long",
            CScalar::ULong => "unsigned long",
            CScalar::LongLong => "long long",
            CScalar::ULongLong => "unsigned long long",
            CScalar::Int8 => "int8_t",
            CScalar::UInt8 => "uint8_t",
            CScalar::Int16 => "int16_t",
            CScalar::UInt16 => "uint16_t",
            CScalar::Int32 => "int32_t",
            CScalar::UInt32 => "uint32_t",
            CScalar::Int64 => "int64_t",
            CScalar::UInt64 => "uint64_t",
            CScalar::SizeT => "size_t",
            CScalar::SSizeT => "ssize_t",
            CScalar::IntPtr => "intptr_t",
            CScalar::UIntPtr => "uintptr_t",
            CScalar::PtrDiff => "ptrdiff_t",
            CScalar::Float => "float",
            CScalar::Double => "double",
            CScalar::LongDouble => "long double",
            CScalar::Pointer => "void *",
            CScalar::WChar => "wchar_t",
            CScalar::Char16 => "char16_t",
            CScalar::Char32 => "char32_t",
        }
    }

    /// The fixed-width type the host compiler uses for this C type.
    pub fn raw_type(self) -> Type {
        Target::HOST.raw_type(self)
    }
}

impl From<CScalar> for Type {
    fn from(scalar: CScalar) -> Type {
        scalar.raw_type()
    }
}

/// The facts about one target that the crate depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// A human-readable name, e.g. `x86_64-linux-gnu`.
    pub name: &'static str,
    /// Whether plain `char` is signed.
    pub char_is_signed: bool,
    /// `sizeof(short)`, `sizeof(int)`, `sizeof(long)`, `sizeof(long long)`.
    pub short_size: usize,
    /// `sizeof(int)`.
    pub int_size: usize,
    /// `sizeof(long)`.
    pub long_size: usize,
    /// `sizeof(long long)`.
    pub long_long_size: usize,
    /// `sizeof(void *)`, also `size_t`, `intptr_t` and `ptrdiff_t`.
    pub pointer_size: usize,
    /// `sizeof(long double)` and its alignment.
    pub long_double_size: usize,
    /// `_Alignof(long double)`.
    pub long_double_align: usize,
    /// Largest alignment a scalar may need (`max_align_t`).
    pub max_align: usize,
    /// `sizeof(wchar_t)`.
    pub wchar_size: usize,
    /// Whether `wchar_t` is signed.
    pub wchar_is_signed: bool,
    /// Whether callers must sign- or zero-extend `char`/`short` arguments to
    /// 32 bits. gcc never relies on it, but clang-built callees do on x86-64
    /// (and libffi does not extend arguments that go on the stack).
    pub extend_small_int_args: bool,
    /// Whose rules lay out bitfields (ffi-typed holds what each means).
    pub bitfield_abi: BitfieldAbi,
}

/// A convention for laying out bitfields in structs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitfieldAbi {
    /// System V: gcc and clang on Linux and the BSDs.
    SysV,
    /// Microsoft: MSVC (and gcc or clang with `ms_struct`).
    Microsoft,
}

impl Target {
    /// x86-64 Linux (System V ABI, LP64).
    pub const X86_64_LINUX: Target = Target {
        name: "x86_64-linux-gnu",
        char_is_signed: true,
        short_size: 2,
        int_size: 4,
        long_size: 8,
        long_long_size: 8,
        pointer_size: 8,
        long_double_size: 16,
        long_double_align: 16,
        max_align: 16,
        wchar_size: 4,
        wchar_is_signed: true,
        extend_small_int_args: true,
        bitfield_abi: BitfieldAbi::SysV,
    };

    /// AArch64 Linux (AAPCS64, LP64): `char` is unsigned, `long double` is
    /// IEEE binary128.
    pub const AARCH64_LINUX: Target = Target {
        name: "aarch64-linux-gnu",
        char_is_signed: false,
        short_size: 2,
        int_size: 4,
        long_size: 8,
        long_long_size: 8,
        pointer_size: 8,
        long_double_size: 16,
        long_double_align: 16,
        max_align: 16,
        wchar_size: 4,
        wchar_is_signed: false,
        extend_small_int_args: false,
        bitfield_abi: BitfieldAbi::SysV,
    };

    /// The target this crate was compiled for.
    #[cfg(target_arch = "x86_64")]
    pub const HOST: Target = Target::X86_64_LINUX;
    /// The target this crate was compiled for.
    #[cfg(target_arch = "aarch64")]
    pub const HOST: Target = Target::AARCH64_LINUX;

    /// The fixed-width type this target uses for a C scalar.
    pub fn raw_type(&self, scalar: CScalar) -> Type {
        let int = |size: usize, signed: bool| match (size, signed) {
            (1, true) => Type::I8,
            (1, false) => Type::U8,
            (2, true) => Type::I16,
            (2, false) => Type::U16,
            (4, true) => Type::I32,
            (4, false) => Type::U32,
            (8, true) => Type::I64,
            (8, false) => Type::U64,
            _ => unreachable!("no C integer type of {size} bytes in a target table"),
        };
        match scalar {
            CScalar::Bool => Type::U8,
            CScalar::Char => int(1, self.char_is_signed),
            CScalar::SChar | CScalar::Int8 => Type::I8,
            CScalar::UChar | CScalar::UInt8 => Type::U8,
            CScalar::Short => int(self.short_size, true),
            CScalar::UShort => int(self.short_size, false),
            CScalar::Int => int(self.int_size, true),
            CScalar::UInt => int(self.int_size, false),
            CScalar::Long => int(self.long_size, true),
            CScalar::ULong => int(self.long_size, false),
            CScalar::LongLong => int(self.long_long_size, true),
            CScalar::ULongLong => int(self.long_long_size, false),
            CScalar::Int16 => Type::I16,
            CScalar::UInt16 => Type::U16,
            CScalar::Int32 => Type::I32,
            CScalar::UInt32 => Type::U32,
            CScalar::Int64 => Type::I64,
            CScalar::UInt64 => Type::U64,
            CScalar::SSizeT | CScalar::IntPtr | CScalar::PtrDiff => int(self.pointer_size, true),
            CScalar::SizeT | CScalar::UIntPtr => int(self.pointer_size, false),
            CScalar::Float => Type::F32,
            CScalar::Double => Type::F64,
            CScalar::LongDouble => Type::LongDouble,
            CScalar::Pointer => Type::Pointer,
            CScalar::WChar => int(self.wchar_size, self.wchar_is_signed),
            CScalar::Char16 => Type::U16,
            CScalar::Char32 => Type::U32,
        }
    }
}
