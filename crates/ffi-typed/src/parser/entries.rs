//! What a declared name stands for: the entries of the namespace's tables
//! ([`Symbol`] for ordinary identifiers, [`TagEntry`] for tags) and the
//! values they carry ([`Ty`], a type with its depth and size of expansion;
//! [`Val`] and [`IntTy`], an integer constant with its C type). Apart from
//! the table (`table.rs`), which stores them without knowing what they are,
//! and from the namespace (`namespace.rs`), which journals their changes.

use std::sync::Arc;

use super::same::{same_function, same_type};
use super::{ConstantKind, ExternPython, NameKind};
use crate::ctype::{CType, FunctionType};

/// A type, how many derivations deep it is, and how many parts its
/// expansion has (see [`MAX_TYPE_PARTS`](super::MAX_TYPE_PARTS)).
#[derive(Clone, Debug)]
pub(crate) struct Ty {
    pub ty: CType,
    pub depth: u16,
    pub parts: u32,
}

impl Ty {
    pub(crate) fn base(ty: CType) -> Ty {
        Ty {
            ty,
            depth: 1,
            parts: 1,
        }
    }
}

/// The integer types constant expressions compute in (`long long` is
/// `long`: both 64 bits on LP64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IntTy {
    Int,
    UInt,
    Long,
    ULong,
}

/// A constant's value with its C type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Val {
    pub v: i128,
    pub ty: IntTy,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Constant {
    pub value: Val,
    pub kind: ConstantKind,
}

/// An ordinary identifier.
#[derive(Clone, Debug)]
pub(crate) enum Symbol {
    Typedef(Ty),
    Function(Arc<FunctionType>),
    Variable(Ty),
    Constant(Constant),
    OpaqueConstant(Ty),
    /// `#define NAME ...`: a constant whose value only the compiler knows.
    UnknownConstant,
}

impl Symbol {
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Symbol::Typedef(_) => "typedef",
            Symbol::Function(_) => "function",
            Symbol::Variable(_) => "variable",
            Symbol::Constant(_) => "constant",
            Symbol::OpaqueConstant(_) => "non-integer constant",
            Symbol::UnknownConstant => "constant of unknown value",
        }
    }

    pub(crate) fn name_kind(&self) -> NameKind {
        match self {
            Symbol::Typedef(_) => NameKind::Typedef,
            Symbol::Function(_) => NameKind::Function,
            Symbol::Variable(_) => NameKind::Variable,
            Symbol::Constant(_) => NameKind::Constant,
            Symbol::OpaqueConstant(_) => NameKind::OpaqueConstant,
            Symbol::UnknownConstant => NameKind::UnknownConstant,
        }
    }

    /// The same declaration again (allowed: C's compatible redeclaration).
    pub(crate) fn same_as(&self, other: &Symbol) -> bool {
        match (self, other) {
            (Symbol::Typedef(a), Symbol::Typedef(b))
            | (Symbol::Variable(a), Symbol::Variable(b))
            | (Symbol::OpaqueConstant(a), Symbol::OpaqueConstant(b)) => same_type(&a.ty, &b.ty),
            (Symbol::Function(a), Symbol::Function(b)) => same_function(a, b),
            (Symbol::Constant(a), Symbol::Constant(b)) => a.value.v == b.value.v,
            (Symbol::UnknownConstant, Symbol::UnknownConstant) => true,
            _ => false,
        }
    }
}

/// A tag and the parse that bound it.
#[derive(Clone, Debug)]
pub(crate) struct TagEntry {
    pub ty: CType,
    pub generation: u64,
}

/// A function declared `extern "Python"`: a name apart from the ordinary
/// ones, as in cffi (a function of the same name may be declared too).
#[derive(Clone, Debug)]
pub(crate) struct ExternEntry {
    pub function: Arc<FunctionType>,
    pub kind: ExternPython,
}

impl ExternEntry {
    /// The same declaration again.
    pub(crate) fn same_as(&self, other: &ExternEntry) -> bool {
        self.kind == other.kind && same_function(&self.function, &other.function)
    }
}
