//! What only the C compiler knows: cffi's `...` placeholders.
//!
//! cffi lets declarations leave facts to the compiler, which its API mode
//! asks when it compiles the module: a record's layout (`struct s { int a;
//! ...; };`), an array's length (`int a[...];`), an integer or floating
//! type's size (`typedef int... t;`), an enum's values (`enum e { A, ...
//! };`), a macro's value (`#define X ...`). Without a compiler (or a header
//! to read them from) these facts are unknown: the types are declared, and
//! anything that needs the missing fact gets an [`Error::Missing`] naming
//! it. The types themselves are [`CType::Placeholder`] (sizes),
//! [`RecordBody::partial`] with [`RecordBody::layout_known`] (records) and
//! [`EnumType::partial`](crate::EnumType::partial) (enums);
//! [`CType::missing`] finds the first such fact a type leads to, in the
//! order cffi's ABI mode meets them (which refuses the type there).

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ctype::{CType, Field, FunctionType, Record, RecordBody, RecordKind};
use crate::error::{Error, Result};
use crate::layout::{BitField, FieldDecl, Packing};

/// A type declared with one of cffi's `...` placeholders: its size is
/// known only to the C compiler.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// `typedef int... name;` (`char`, `short`, `int`, `long`, `signed`,
    /// `unsigned` before the `...`): an integer type of unknown size and
    /// signedness, spelt by its typedef name.
    Integer(String),
    /// `typedef float... name;` (or `double...`): a floating-point type of
    /// unknown size, spelt by its typedef name.
    Float(String),
    /// `T name[...];`: an array of `T` whose length only the compiler knows.
    Array(CType),
}

impl Placeholder {
    /// What is missing about `ty`, which is this placeholder.
    pub(crate) fn missing(&self, ty: &CType) -> Missing {
        match self {
            Placeholder::Integer(_) => Missing::Integer(ty.clone()),
            Placeholder::Float(_) => Missing::Float(ty.clone()),
            Placeholder::Array(_) => Missing::Length(ty.clone()),
        }
    }
}

/// A fact about a type that only the C compiler knows, because the
/// declarations leave it to one of cffi's `...` placeholders.
///
/// ```
/// use ffi_typed::{Declarations, Error, Missing};
///
/// let mut decls = Declarations::new();
/// decls.parse("struct s { int a; ...; }; typedef int... id_t; id_t next(struct s *);").unwrap();
/// let s = decls.parse_type("struct s").unwrap();
/// assert!(matches!(s.size(), Err(Error::Missing(Missing::Layout(_)))));
/// // A pointer's size is known, but the type still leads to the record.
/// let p = decls.parse_type("struct s *").unwrap();
/// assert_eq!(p.size().unwrap(), 8);
/// assert_eq!(p.missing(), Some(Missing::Layout(s)));
/// let next = decls.function("next").unwrap();
/// assert_eq!(next.missing().unwrap().ty().to_string(), "id_t");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// The layout of a partial struct or union ([`RecordBody::partial`]).
    Layout(CType),
    /// The length of an array declared `[...]`.
    Length(CType),
    /// The size and signedness of an integer type declared `int...`.
    Integer(CType),
    /// The size of a floating-point type declared `float...`.
    Float(CType),
    /// The enumerators, and so the size, of an enum declared with `...`.
    Enumerators(CType),
}

impl Missing {
    /// The type the fact is about.
    pub fn ty(&self) -> &CType {
        match self {
            Missing::Layout(ty)
            | Missing::Length(ty)
            | Missing::Integer(ty)
            | Missing::Float(ty)
            | Missing::Enumerators(ty) => ty,
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, ty) = match self {
            Missing::Layout(ty) => ("the layout of", ty),
            Missing::Length(ty) => ("the length of", ty),
            Missing::Integer(ty) => ("the size and signedness of integer type", ty),
            Missing::Float(ty) => ("the size of floating-point type", ty),
            Missing::Enumerators(ty) => ("the values and size of", ty),
        };
        let verb = match self {
            Missing::Integer(_) | Missing::Enumerators(_) => "are",
            _ => "is",
        };
        write!(
            f,
            "{what} '{ty}' {verb} known only to the C compiler (it is declared with '...')"
        )
    }
}

impl std::error::Error for Missing {}

impl CType {
    /// The first fact this type leads to that only the C compiler knows,
    /// or `None`: through pointers, arrays, function types and the members
    /// of structs and unions, in the order cffi's ABI mode meets them when
    /// it builds the type (a record's members after the rest of the type if
    /// it is reached through a pointer, at once otherwise), which is where
    /// cffi refuses the type.
    pub fn missing(&self) -> Option<Missing> {
        first_missing(std::iter::once(self))
    }
}

impl FunctionType {
    /// [`CType::missing`] for this function's result and parameters.
    pub fn missing(&self) -> Option<Missing> {
        first_missing(std::iter::once(&self.ret).chain(&self.params))
    }
}

/// How many records have been completed in the process: a walk that found
/// nothing missing through a record's members holds until a completion
/// (which may give a record reachable from it a body with something
/// missing), so it is remembered with this count.
static COMPLETIONS: AtomicU64 = AtomicU64::new(0);

/// Counts a completion, after the body is in place.
pub(crate) fn record_completed() {
    COMPLETIONS.fetch_add(1, Ordering::AcqRel);
}

/// The walk behind [`CType::missing`], over `types` in order. Each record's
/// members and each function type are walked once, so the work is linear
/// in the number of distinct parts; the stack is explicit, so depth costs
/// no recursion. The records whose members a walk finding nothing went
/// through are remembered as such (`Record::nothing_missing_at`), and later
/// walks skip their members: asking about many types of one large set of
/// declarations costs about as much as asking about all of them once.
fn first_missing<'a>(types: impl IntoIterator<Item = &'a CType>) -> Option<Missing> {
    // Read before the walk: a completion meanwhile makes the result stale.
    let generation = COMPLETIONS.load(Ordering::Acquire) + 1;
    let mut stack: Vec<&'a CType> = types.into_iter().collect();
    stack.reverse();
    // Records reached through a pointer, whose members come later (cffi
    // completes them after building the type that points to them).
    let mut delayed: VecDeque<&'a Arc<Record>> = VecDeque::new();
    let mut expanded: Vec<&'a Arc<Record>> = Vec::new();
    let mut seen: HashSet<*const Record> = HashSet::new();
    let mut functions: HashSet<*const FunctionType> = HashSet::new();
    // Pushes a record's members to be walked next, in order.
    let expand = |stack: &mut Vec<&'a CType>,
                  seen: &mut HashSet<*const Record>,
                  expanded: &mut Vec<&'a Arc<Record>>,
                  record: &'a Arc<Record>| {
        if record.nothing_missing_at.load(Ordering::Acquire) == generation {
            return;
        }
        if let Some(body) = record.body()
            && seen.insert(Arc::as_ptr(record))
        {
            expanded.push(record);
            stack.extend(body.fields.iter().rev().map(|f| &f.ty));
        }
    };
    loop {
        while let Some(ty) = stack.pop() {
            match ty {
                CType::Pointer(to) => match &**to {
                    CType::Record(r) => {
                        if let Some(missing) = partial(to, r) {
                            return Some(missing);
                        }
                        delayed.push_back(r);
                    }
                    other => stack.push(other),
                },
                CType::Array(elem, _) => stack.push(elem),
                CType::Placeholder(p) => return Some(p.missing(ty)),
                CType::Enum(e) if e.partial => return Some(Missing::Enumerators(ty.clone())),
                CType::Function(f) => {
                    if functions.insert(Arc::as_ptr(f)) {
                        stack.extend(f.params.iter().rev());
                        stack.push(&f.ret);
                    }
                }
                CType::Record(r) => {
                    if let Some(missing) = partial(ty, r) {
                        return Some(missing);
                    }
                    expand(&mut stack, &mut seen, &mut expanded, r);
                }
                CType::Void | CType::Scalar(_) | CType::Enum(_) => {}
            }
        }
        let Some(record) = delayed.pop_front() else {
            break;
        };
        expand(&mut stack, &mut seen, &mut expanded, record);
    }
    // Nothing is missing through any record walked.
    for record in expanded {
        record
            .nothing_missing_at
            .store(generation, Ordering::Release);
    }
    None
}

/// `Missing::Layout` if `record` (the type `ty`) is partial.
fn partial(ty: &CType, record: &Record) -> Option<Missing> {
    record
        .body()
        .filter(|b| b.partial)
        .map(|_| Missing::Layout(ty.clone()))
}

/// Why a record has no layout, kept in its body so that its size (and so
/// that of a record holding it) is refused without walking its members.
#[derive(Clone, Debug)]
pub(crate) enum Unlaid {
    /// It is partial ([`RecordBody::partial`]): the fact missing is its own
    /// layout. (Not kept as a [`Missing`]: that would hold the record in
    /// its own body.)
    Partial,
    /// A member's size is missing: this fact.
    Member(Missing),
}

impl Unlaid {
    /// The fact missing for the size of `ty`, the record this is about.
    pub(crate) fn missing(&self, ty: &CType) -> Missing {
        match self {
            Unlaid::Partial => Missing::Layout(ty.clone()),
            Unlaid::Member(missing) => missing.clone(),
        }
    }
}

/// The fact missing for the size of a member of type `ty` (a flexible
/// array member: of its element), if only the compiler knows it.
fn missing_size(ty: &CType) -> Option<Missing> {
    match ty {
        CType::Array(elem, None) => missing_size(elem),
        _ => match ty.size() {
            Err(Error::Missing(missing)) => Some(missing),
            _ => None,
        },
    }
}

/// Why a record with these members gets no layout, if it does not: it is
/// `declared_partial`, or has a member that is a partial struct (then it
/// is partial too, as cffi has it; not for a partial union member, nor an
/// array of partial structs), or a member whose size is missing. `None` if
/// the layout rules apply.
pub(crate) fn unlaid(fields: &[FieldDecl], declared_partial: bool) -> Option<Unlaid> {
    let member_partial = |f: &FieldDecl| {
        matches!(&f.ty, CType::Record(r)
            if r.kind() == RecordKind::Struct && r.body().is_some_and(|b| b.partial))
    };
    if declared_partial || fields.iter().any(member_partial) {
        return Some(Unlaid::Partial);
    }
    fields
        .iter()
        .find_map(|f| missing_size(&f.ty))
        .map(Unlaid::Member)
}

/// The body of the record `ty` without a layout ([`unlaid`]): its members,
/// checked as far as the layout rules' checks need no sizes.
pub(crate) fn unlaid_body(
    ty: &CType,
    fields: Vec<FieldDecl>,
    packing: Packing,
    why: Unlaid,
) -> Result<RecordBody> {
    let union = matches!(ty, CType::Record(r) if r.kind() == RecordKind::Union);
    let count = fields.len();
    let mut members = Vec::with_capacity(count);
    for (index, decl) in fields.into_iter().enumerate() {
        let what = || {
            decl.name
                .clone()
                .unwrap_or_else(|| format!("member {index}"))
        };
        if decl.bit_width.is_some() && !decl.ty.is_integer() {
            return Err(unlaid_error(
                ty,
                format!(
                    "{}: a bitfield must have an integer type, not {}",
                    what(),
                    decl.ty
                ),
            ));
        }
        if matches!(decl.ty, CType::Array(_, None)) && (union || index + 1 != count) {
            return Err(unlaid_error(
                ty,
                format!(
                    "{}: an array of unknown size may only be a struct's last member",
                    what()
                ),
            ));
        }
        members.push(Field {
            name: decl.name,
            ty: decl.ty,
            offset: 0,
            bits: decl.bit_width.map(|width| BitField { width, shift: 0 }),
        });
    }
    Ok(RecordBody::unlaid(members, packing, why))
}

fn unlaid_error(ty: &CType, reason: String) -> Error {
    Error::Layout {
        ty: ty.to_string(),
        reason,
    }
}
