//! The C type model.

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use ffi_raw::{AggregateKind, ArrayType, CScalar, StructType, Target, Type};

use crate::error::{Error, Result};
use crate::layout::{self, BitField, BitfieldRules, FieldDecl, Packing};
use crate::placeholder::{Missing, Placeholder, Unlaid};

/// A C type. Cloning is cheap (aggregates are shared).
///
/// Equality is structural, except for structs, unions and enums: a named
/// one equals another of the same kind and name (whoever declared it, so one
/// process has one identity per tagged type); an anonymous one only itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum CType {
    /// `void`: only behind a pointer or as a return type.
    Void,
    /// A scalar; never [`CScalar::Pointer`] (use [`CType::Pointer`]).
    Scalar(CScalar),
    /// A pointer to the type (`void *` is `Pointer(Void)`).
    Pointer(Arc<CType>),
    /// `T[n]`, or `T[]` (incomplete) with `None`.
    Array(Arc<CType>, Option<usize>),
    /// A struct or union.
    Record(Arc<Record>),
    /// An enum.
    Enum(Arc<EnumType>),
    /// A function type (use it behind a pointer for a function pointer).
    Function(Arc<FunctionType>),
    /// A type whose size only the C compiler knows, declared with one of
    /// cffi's `...` placeholders (`typedef int... t;`, `int a[...];`).
    Placeholder(Arc<Placeholder>),
}

impl CType {
    /// `T *`.
    pub fn pointer_to(ty: CType) -> CType {
        CType::Pointer(Arc::new(ty))
    }

    /// `T[len]` (or `T[]` with `None`).
    pub fn array_of(ty: CType, len: Option<usize>) -> CType {
        CType::Array(Arc::new(ty), len)
    }

    /// A new struct or union, incomplete until [`CType::complete`].
    pub fn new_record(kind: RecordKind, name: Option<&str>) -> CType {
        CType::Record(Record::new(kind, name, true))
    }

    /// Completes a struct or union declared with [`CType::new_record`],
    /// computing its layout as the host's C compiler does
    /// ([`BitfieldRules::HOST`]).
    pub fn complete(&self, fields: Vec<FieldDecl>, packing: Packing) -> Result<()> {
        self.complete_with(fields, packing, &BitfieldRules::HOST)
    }

    /// [`CType::complete`] with another ABI's bitfield rules (for instance
    /// [`BitfieldRules::MS`], which is what `__attribute__((ms_struct))`
    /// selects in gcc).
    pub fn complete_with(
        &self,
        fields: Vec<FieldDecl>,
        packing: Packing,
        rules: &BitfieldRules,
    ) -> Result<()> {
        self.complete_as(fields, packing, rules, false)
    }

    /// Completes a struct or union declared with cffi's `...;` among its
    /// members (`struct s { int a; ...; };`): the members are known, but
    /// there may be more, and the layout is known only to the C compiler
    /// ([`RecordBody::partial`]).
    pub fn complete_partial(&self, fields: Vec<FieldDecl>, packing: Packing) -> Result<()> {
        self.complete_as(fields, packing, &BitfieldRules::HOST, true)
    }

    /// A record with a member whose size only the compiler knows gets no
    /// layout either (see [`RecordBody::layout_known`]).
    fn complete_as(
        &self,
        fields: Vec<FieldDecl>,
        packing: Packing,
        rules: &BitfieldRules,
        partial: bool,
    ) -> Result<()> {
        let CType::Record(record) = self else {
            return Err(Error::Layout {
                ty: self.to_string(),
                reason: "only a struct or union can be completed".into(),
            });
        };
        let body = match crate::placeholder::unlaid(&fields, partial) {
            Some(why) => crate::placeholder::unlaid_body(self, fields, packing, why)?,
            None => layout::layout_record(self, record.kind, fields, packing, rules)?,
        };
        record
            .body
            .set(body)
            .map_err(|_| Error::AlreadyComplete(self.to_string()))?;
        crate::placeholder::record_completed();
        Ok(())
    }

    /// `sizeof`, or an error for an incomplete type.
    pub fn size(&self) -> Result<usize> {
        match self {
            CType::Scalar(s) => Ok(s.raw_type().size()),
            CType::Pointer(_) => Ok(Target::HOST.pointer_size),
            CType::Array(elem, Some(n)) => elem
                .size()?
                .checked_mul(*n)
                .filter(|&size| size <= isize::MAX as usize)
                .ok_or_else(|| Error::TooLarge(self.to_string())),
            CType::Record(r) => self.laid_out(r).map(|b| b.size),
            CType::Enum(e) if e.partial => Err(Missing::Enumerators(self.clone()).into()),
            CType::Enum(e) => Ok(e.underlying.raw_type().size()),
            CType::Placeholder(p) => Err(p.missing(self).into()),
            CType::Void | CType::Array(_, None) | CType::Function(_) => Err(self.incomplete()),
        }
    }

    /// `_Alignof`, or an error for an incomplete type. An incomplete array
    /// has its element's alignment (it matters as a flexible array member).
    pub fn align(&self) -> Result<usize> {
        match self {
            CType::Scalar(s) => Ok(s.raw_type().align()),
            CType::Pointer(_) => Ok(Target::HOST.pointer_size),
            CType::Array(elem, _) => elem.align(),
            CType::Record(r) => self.laid_out(r).map(|b| b.align),
            CType::Enum(e) if e.partial => Err(Missing::Enumerators(self.clone()).into()),
            CType::Enum(e) => Ok(e.underlying.raw_type().align()),
            CType::Placeholder(p) => match &**p {
                Placeholder::Array(elem) => elem.align(),
                _ => Err(p.missing(self).into()),
            },
            CType::Void | CType::Function(_) => Err(self.incomplete()),
        }
    }

    fn incomplete(&self) -> Error {
        Error::Incomplete(self.to_string())
    }

    /// The body of `record` (this type), if it is complete and laid out.
    fn laid_out<'r>(&self, record: &'r Record) -> Result<&'r RecordBody> {
        match record.body() {
            Some(body) => match &body.unlaid {
                None => Ok(body),
                Some(unlaid) => Err(unlaid.missing(self).into()),
            },
            None => Err(self.incomplete()),
        }
    }

    /// Whether this is an integer type (including `_Bool`, characters and
    /// enums): the types a bitfield may have.
    pub fn is_integer(&self) -> bool {
        match self {
            CType::Scalar(s) => s.raw_type().is_integer(),
            CType::Enum(_) => true,
            CType::Placeholder(p) => matches!(**p, Placeholder::Integer(_)),
            _ => false,
        }
    }

    /// The `ffi_raw` type values of this type are passed as.
    ///
    /// Arrays map to `Type::Array` (valid inside structs only); structs that
    /// libffi can describe map to `StructType::new`; unions, structs with
    /// bitfields, and structs whose packing changes their layout map to
    /// `StructType::memory_only`, which the raw layer refuses to pass by
    /// value with an error naming the reason.
    ///
    /// ```
    /// use ffi_raw::{AggregateKind, Type};
    /// use ffi_typed::Declarations;
    ///
    /// let mut decls = Declarations::new();
    /// decls.parse("struct pair { long a; double b; }; union u { int i; float f; };").unwrap();
    /// let Type::Struct(pair) = decls.parse_type("struct pair").unwrap().to_raw().unwrap() else {
    ///     unreachable!()
    /// };
    /// assert_eq!((pair.size(), pair.by_value_obstacle()), (16, None));
    /// let Type::Struct(u) = decls.parse_type("union u").unwrap().to_raw().unwrap() else {
    ///     unreachable!()
    /// };
    /// assert_eq!(u.by_value_obstacle(), Some(AggregateKind::Union));
    /// assert_eq!(decls.parse_type("char *").unwrap().to_raw().unwrap(), Type::Pointer);
    /// ```
    pub fn to_raw(&self) -> Result<Type> {
        Ok(match self {
            CType::Void => Type::Void,
            CType::Scalar(s) => s.raw_type(),
            CType::Pointer(_) => Type::Pointer,
            CType::Enum(e) if !e.partial => e.underlying.raw_type(),
            CType::Array(elem, len) => {
                Type::Array(ArrayType::new(elem.to_raw()?, len.unwrap_or(0))?)
            }
            CType::Function(_) => return Err(self.incomplete()),
            CType::Enum(_) => return Err(Missing::Enumerators(self.clone()).into()),
            CType::Placeholder(p) => return Err(p.missing(self).into()),
            CType::Record(r) => {
                let body = self.laid_out(r)?;
                let raw = body.raw.get_or_init(|| raw_record(r.kind, body));
                Type::Struct(raw.clone().map_err(|reason| Error::Layout {
                    ty: self.to_string(),
                    reason,
                })?)
            }
        })
    }
}

/// The raw type of a completed record: memory-only unless it is a struct
/// whose natural layout (what libffi assumes) is exactly this one.
fn raw_record(kind: RecordKind, body: &RecordBody) -> Result<StructType, String> {
    let memory_only =
        |why| StructType::memory_only(why, body.size, body.align).map_err(|e| e.to_string());
    if kind == RecordKind::Union {
        return memory_only(AggregateKind::Union);
    }
    if body.fields.iter().any(|f| f.bits.is_some()) {
        return memory_only(AggregateKind::Bitfields);
    }
    let raw_fields: Vec<Type> = body
        .fields
        .iter()
        .map(|f| f.ty.to_raw())
        .collect::<Result<_>>()
        .map_err(|e| e.to_string())?;
    if raw_fields.is_empty() {
        return memory_only(AggregateKind::ZeroSized);
    }
    let natural = StructType::new(raw_fields).map_err(|e| e.to_string())?;
    let offsets: Vec<usize> = body.fields.iter().map(|f| f.offset).collect();
    if natural.offsets() != offsets.as_slice()
        || natural.size() != body.size
        || natural.align() != body.align
    {
        return memory_only(AggregateKind::Packed);
    }
    Ok(natural)
}

/// Struct or union.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `struct`
    Struct,
    /// `union`
    Union,
}

/// A struct or union type: named or anonymous, opaque until completed.
pub struct Record {
    kind: RecordKind,
    name: Option<String>,
    /// For an anonymous record, the first typedef naming it: its C spelling.
    typedef_name: OnceLock<String>,
    body: OnceLock<RecordBody>,
    /// Whether code outside the namespace that made this record may hold a
    /// reference to it: set for records made with [`CType::new_record`],
    /// and by a namespace when it hands out a type leading to the record
    /// (see [`release_cycles`]). Never cleared.
    escaped: AtomicBool,
    /// When [`CType::missing`] last found nothing missing through this
    /// record's members (a completion count, plus one; zero if never).
    pub(crate) nothing_missing_at: AtomicU64,
}

impl Record {
    fn new(kind: RecordKind, name: Option<&str>, escaped: bool) -> Arc<Record> {
        LIVE_RECORDS.fetch_add(1, Ordering::Relaxed);
        Arc::new(Record {
            kind,
            name: name.map(str::to_string),
            typedef_name: OnceLock::new(),
            body: OnceLock::new(),
            escaped: AtomicBool::new(escaped),
            nothing_missing_at: AtomicU64::new(0),
        })
    }

    /// A record for a namespace's own use: not escaped until the namespace
    /// hands it out (`CType::mark_escaped`). The weak handle is the
    /// namespace's list entry, for [`release_cycles`].
    pub(crate) fn new_private(kind: RecordKind, name: Option<&str>) -> (CType, Weak<Record>) {
        let record = Record::new(kind, name, false);
        let weak = Arc::downgrade(&record);
        (CType::Record(record), weak)
    }

    /// Struct or union.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The tag, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The members and layout, once completed.
    pub fn body(&self) -> Option<&RecordBody> {
        self.body.get()
    }
}

/// How many [`Record`]s exist in the process (made and not yet dropped).
static LIVE_RECORDS: AtomicUsize = AtomicUsize::new(0);

/// How many struct and union types exist in the process right now: a leak
/// detector for tests (`tests/cycles.rs`). Not part of the stable API.
#[doc(hidden)]
pub fn live_records() -> usize {
    LIVE_RECORDS.load(Ordering::Relaxed)
}

impl Drop for Record {
    fn drop(&mut self) {
        LIVE_RECORDS.fetch_sub(1, Ordering::Relaxed);
    }
}

// ---- reference cycles ----
//
// A record's body holds its members' types, and a member's type may lead
// back to the record (`struct node { struct node *next; }`), directly or
// through other records: such records keep each other alive through their
// `Arc`s forever. The public representation (`CType::Record(Arc<Record>)`,
// `Field::ty` a `CType`, `Record::body` a plain borrow) requires every type
// reachable from a body to be held strongly by it, so the cycles cannot be
// avoided; they are broken instead, by the namespace that made the records,
// when it knows nobody else can reach them:
//
// - A namespace (`parser::Declarations`) makes its records with
//   `Record::new_private` (not escaped) and remembers them weakly.
// - Whatever it hands out (lookups, iterators, `parse_type`) is first
//   marked with `CType::mark_escaped`: every record on the way to the
//   type's leaves (not through record bodies) is flagged escaped.
// - When the namespace is dropped (and for the records of a failed parse
//   when it is rolled back), `release_cycles` takes the bodies out of its
//   records that are not reachable, through bodies, from an escaped record.
//
// Why that is sound: a record reaches other code only by being handed out
// (then it is flagged) or through the body of a record that other code
// holds (then it is reachable from a flagged one: bodies are never taken
// from records reachable from a flagged one, and only grow otherwise, so
// reachability from flagged records only grows). Records of a namespace
// that are not reachable from a flagged record are therefore reachable only
// through the namespace, which is being dropped (or rolled back) by its
// exclusive owner: no reference to them, or into their bodies, can exist
// elsewhere, and taking their bodies is unobservable.
//
// What it does not free: records a program took out of a namespace that
// lie on a cycle stay alive after the program drops them, as before (with
// this representation their last external owner cannot be detected).

impl CType {
    /// Flags every record this type leads to (through pointers, arrays and
    /// function types, not through record bodies) as escaped: this type is
    /// being handed out of its namespace.
    pub(crate) fn mark_escaped(&self) {
        // Most types are a chain of pointers and arrays: no walk needed.
        let mut ty = self;
        loop {
            match ty {
                CType::Pointer(to) | CType::Array(to, _) => ty = to,
                CType::Placeholder(p) => match &**p {
                    Placeholder::Array(elem) => ty = elem,
                    Placeholder::Integer(_) | Placeholder::Float(_) => return,
                },
                CType::Record(r) => return r.escaped.store(true, Ordering::Release),
                CType::Function(_) => {
                    return records_in([ty], |r| r.escaped.store(true, Ordering::Release));
                }
                CType::Void | CType::Scalar(_) | CType::Enum(_) => return,
            }
        }
    }
}

impl FunctionType {
    /// [`CType::mark_escaped`] for a function type handed out on its own.
    pub(crate) fn mark_escaped(&self) {
        records_in(std::iter::once(&self.ret).chain(&self.params), |r| {
            r.escaped.store(true, Ordering::Release)
        });
    }
}

/// Calls `found` with every record the types lead to through pointers,
/// arrays and function types (not through record bodies). A function type
/// shared by several parameters is visited once, so the work is linear in
/// the number of distinct parts, not in the (possibly exponential) number
/// of paths.
fn records_in<'a>(
    types: impl IntoIterator<Item = &'a CType>,
    mut found: impl FnMut(&'a Arc<Record>),
) {
    // The types to visit and the function types seen: the first few in
    // place (most types have a handful of parts), the rest on the heap.
    let mut stack = SmallStack::default();
    for ty in types {
        stack.push(ty);
    }
    let mut few: [*const FunctionType; 8] = [std::ptr::null(); 8];
    let mut few_len = 0;
    let mut many: HashSet<*const FunctionType> = HashSet::new();
    let mut first_visit = |f: *const FunctionType| {
        if few[..few_len].contains(&f) {
            false
        } else if few_len < few.len() {
            few[few_len] = f;
            few_len += 1;
            true
        } else {
            many.insert(f)
        }
    };
    while let Some(ty) = stack.pop() {
        match ty {
            CType::Pointer(to) | CType::Array(to, _) => stack.push(to),
            CType::Placeholder(p) => {
                if let Placeholder::Array(elem) = &**p {
                    stack.push(elem);
                }
            }
            CType::Function(f) => {
                if first_visit(Arc::as_ptr(f)) {
                    stack.push(&f.ret);
                    f.params.iter().for_each(|p| stack.push(p));
                }
            }
            CType::Record(r) => found(r),
            CType::Void | CType::Scalar(_) | CType::Enum(_) => {}
        }
    }
}

/// A stack of types that allocates only past 16 entries.
#[derive(Default)]
struct SmallStack<'a> {
    inline: [Option<&'a CType>; 16],
    len: usize,
    spilled: Vec<&'a CType>,
}

impl<'a> SmallStack<'a> {
    fn push(&mut self, ty: &'a CType) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(ty);
                self.len += 1;
            }
            None => self.spilled.push(ty),
        }
    }

    fn pop(&mut self) -> Option<&'a CType> {
        if let Some(ty) = self.spilled.pop() {
            return Some(ty);
        }
        self.len = self.len.checked_sub(1)?;
        self.inline[self.len].take()
    }
}

/// Breaks the reference cycles among `records` (made by one namespace with
/// [`Record::new_private`]) that nothing but the namespace can reach: takes
/// the bodies out of those that are not reachable from an escaped record,
/// so that they, and what their bodies held, are freed with the namespace.
/// Returns how many bodies were taken.
///
/// # Safety
///
/// The caller must own the namespace that made `records` exclusively (it
/// is being dropped, or rolled back under `&mut`), and that namespace must
/// have marked with [`CType::mark_escaped`] every type it ever handed out.
/// (Then no reference to a record that is not reachable from an escaped one
/// can exist outside the namespace; see the comment above.) The caller must
/// not use the types of the taken bodies' records as complete afterwards.
pub(crate) unsafe fn release_cycles(records: &[Weak<Record>]) -> usize {
    let alive: Vec<Arc<Record>> = records.iter().filter_map(Weak::upgrade).collect();
    // Everything reachable from an escaped record, through bodies.
    let mut reachable: HashSet<*const Record> = HashSet::new();
    let mut work: Vec<&Arc<Record>> = alive
        .iter()
        .filter(|r| r.escaped.load(Ordering::Acquire))
        .collect();
    let mut found: Vec<&Arc<Record>> = Vec::new();
    while let Some(record) = work.pop() {
        if !reachable.insert(Arc::as_ptr(record)) {
            continue;
        }
        if let Some(body) = record.body() {
            records_in(body.fields.iter().map(|f| &f.ty), |r| found.push(r));
            work.append(&mut found);
        }
    }
    // No reference into a body may outlive the walk.
    drop((work, found));
    let garbage: Vec<&Arc<Record>> = alive
        .iter()
        .filter(|r| !reachable.contains(&Arc::as_ptr(r)) && r.body.get().is_some())
        .collect();
    let mut bodies: Vec<RecordBody> = Vec::with_capacity(garbage.len());
    for &record in &garbage {
        let body = Arc::as_ptr(record).cast_mut();
        // SAFETY: `record` is not reachable from an escaped record, so (by
        // the caller's contract and the argument above) every reference to
        // it is held by the namespace, by the bodies of other such records
        // or by `alive` here, and none of them is being dereferenced: the
        // walk above is over, and nothing else runs on these records. The
        // pointer comes from the `Arc` (shared ownership, write provenance),
        // and only the `body` field is borrowed mutably, briefly, to take
        // its value out; the body is dropped below, after all are taken, so
        // no drop runs while a `&mut` exists.
        if let Some(taken) = unsafe { (*body).body.take() } {
            bodies.push(taken);
        }
    }
    let taken = bodies.len();
    // Dropping the bodies only lowers the counts of records held in
    // `alive` (or outside this set), so no record is freed, and no drop
    // recurses, before `alive` goes.
    drop(bodies);
    taken
}

impl PartialEq for Record {
    fn eq(&self, other: &Record) -> bool {
        std::ptr::eq(self, other)
            || (self.kind == other.kind && self.name.is_some() && self.name == other.name)
    }
}

impl Eq for Record {}

impl Hash for Record {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        match &self.name {
            Some(name) => name.hash(state),
            None => (self as *const Record as usize).hash(state),
        }
    }
}

/// The members and layout of a completed struct or union.
pub struct RecordBody {
    /// The members in declaration order (unnamed zero-width bitfields are
    /// not members; anonymous struct/union members have no name).
    pub fields: Vec<Field>,
    /// `sizeof`.
    pub size: usize,
    /// `_Alignof`.
    pub align: usize,
    /// The packing it was laid out with.
    pub packing: Packing,
    /// Whether the record is partial, as cffi has it: declared with `...;`
    /// among its members, with a member declared `[...]`, or with a member
    /// that is a partial struct. It may have more members than `fields`,
    /// and its layout is known only to the C compiler.
    pub partial: bool,
    /// Why the offsets, bit positions, `size` and `align` are not known, if
    /// they are not ([`RecordBody::layout_known`]).
    pub(crate) unlaid: Option<Unlaid>,
    /// The raw type, computed on first use.
    raw: OnceLock<Result<StructType, String>>,
}

impl RecordBody {
    pub(crate) fn new(
        fields: Vec<Field>,
        size: usize,
        align: usize,
        packing: Packing,
    ) -> RecordBody {
        RecordBody {
            fields,
            size,
            align,
            packing,
            partial: false,
            unlaid: None,
            raw: OnceLock::new(),
        }
    }

    /// The members of a record whose layout only the C compiler knows:
    /// offsets, bit positions, size and alignment are left zero (one).
    pub(crate) fn unlaid(fields: Vec<Field>, packing: Packing, why: Unlaid) -> RecordBody {
        RecordBody {
            partial: matches!(why, Unlaid::Partial),
            unlaid: Some(why),
            ..RecordBody::new(fields, 0, 1, packing)
        }
    }

    /// Whether the layout is known: false for a [`partial`](Self::partial)
    /// record and for one with a member whose size only the C compiler
    /// knows (a partial record, a `T[...]` array, an `int...` type, an enum
    /// declared with `...`). Then the members' offsets and bit positions,
    /// `size` and `align` mean nothing (they are zero), and
    /// [`CType::size`] is an [`Error::Missing`].
    pub fn layout_known(&self) -> bool {
        self.unlaid.is_none()
    }

    /// Finds a member by name, looking into anonymous struct and union
    /// members as C does; returns it with its offset from this record's start.
    ///
    /// ```
    /// use ffi_typed::{CType, Declarations};
    ///
    /// let mut decls = Declarations::new();
    /// decls.parse("struct s { char c; union { int i; double d; }; short t; };").unwrap();
    /// let CType::Record(s) = decls.parse_type("struct s").unwrap() else { unreachable!() };
    /// let body = s.body().unwrap();
    /// let (offset, d) = body.field("d").unwrap();
    /// assert_eq!((offset, d.ty.to_string()), (8, "double".to_string()));
    /// assert_eq!(body.field("t").unwrap().0, 16);
    /// assert!(body.field("x").is_none());
    /// ```
    pub fn field(&self, name: &str) -> Option<(usize, &Field)> {
        for field in &self.fields {
            match &field.name {
                Some(n) if n == name => return Some((field.offset, field)),
                None => {
                    if let CType::Record(inner) = &field.ty
                        && let Some((offset, found)) = inner.body().and_then(|b| b.field(name))
                    {
                        return Some((field.offset + offset, found));
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// One member of a struct or union.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The member's name; `None` for an anonymous struct/union member or an
    /// unnamed bitfield.
    pub name: Option<String>,
    /// Its type.
    pub ty: CType,
    /// Byte offset: of the member, or for a bitfield of the byte holding
    /// its lowest bit.
    pub offset: usize,
    /// Bitfield position, if it is one.
    pub bits: Option<BitField>,
}

/// An enum type.
#[derive(Debug)]
pub struct EnumType {
    /// The tag, if any.
    pub name: Option<String>,
    /// The integer type gcc chooses for it.
    pub underlying: CScalar,
    /// The enumerators and their values, in declaration order.
    pub values: Vec<(String, i128)>,
    /// Whether the enum ends with cffi's `...` (`enum foo { A, ... };`):
    /// it has more enumerators than `values`, which only the compiler
    /// knows (cffi's API mode asks it), so its real `underlying` type is
    /// not known either: its size is an [`Error::Missing`] (see
    /// [`CType::missing`]), and cffi's ABI mode refuses to use such an enum
    /// (`VerificationMissing`).
    pub partial: bool,
    /// For an anonymous enum, the first typedef naming it: its C spelling.
    typedef_name: OnceLock<String>,
}

impl EnumType {
    /// An enum with these enumerators; the underlying type is chosen as
    /// gcc chooses it (`unsigned int` if no value is negative and all fit,
    /// else `int` if all fit, else the 64-bit type that holds them all).
    ///
    /// ```
    /// use ffi_raw::CScalar;
    /// use ffi_typed::EnumType;
    ///
    /// let e = EnumType::new(Some("sign"), vec![("NEG".into(), -1), ("POS".into(), 1)]).unwrap();
    /// assert_eq!(e.underlying, CScalar::Int);
    /// let big = EnumType::new(None, vec![("BIG".into(), 1 << 40)]).unwrap();
    /// assert_eq!(big.underlying, CScalar::ULong);
    /// assert!(EnumType::new(None, vec![("A".into(), -1), ("B".into(), u64::MAX as i128)]).is_err());
    /// ```
    pub fn new(name: Option<&str>, values: Vec<(String, i128)>) -> Result<EnumType> {
        let min = values.iter().map(|v| v.1).min().unwrap_or(0);
        let max = values.iter().map(|v| v.1).max().unwrap_or(0);
        let underlying = if min >= 0 && max <= u32::MAX as i128 {
            CScalar::UInt
        } else if min >= i32::MIN as i128 && max <= i32::MAX as i128 {
            CScalar::Int
        } else if min >= 0 && max <= u64::MAX as i128 {
            CScalar::ULong
        } else if min >= i64::MIN as i128 && max <= i64::MAX as i128 {
            CScalar::Long
        } else {
            return Err(Error::Layout {
                ty: format!("enum {}", name.unwrap_or("<anonymous>")),
                reason: format!("values from {min} to {max} fit no integer type"),
            });
        };
        Ok(EnumType {
            name: name.map(str::to_string),
            underlying,
            values,
            partial: false,
            typedef_name: OnceLock::new(),
        })
    }
}

impl EnumType {
    /// Whether no enumerators were declared (`enum foo;`, or `enum foo`
    /// mentioned before any definition), nor `...` ([`EnumType::partial`]).
    /// C has no empty enum, so such an enum's real type is unknown here:
    /// cffi takes it to be `unsigned int`, as [`EnumType::new`] does, and
    /// warns when it is used.
    ///
    /// ```
    /// use ffi_raw::CScalar;
    /// use ffi_typed::{CType, Declarations, TagKind};
    ///
    /// let mut decls = Declarations::new();
    /// decls.parse("enum opaque; enum color { RED };").unwrap();
    /// let Some(CType::Enum(opaque)) = decls.tag(TagKind::Enum, "opaque") else { unreachable!() };
    /// assert!(opaque.is_opaque() && opaque.underlying == CScalar::UInt);
    /// let Some(CType::Enum(color)) = decls.tag(TagKind::Enum, "color") else { unreachable!() };
    /// assert!(!color.is_opaque());
    /// ```
    pub fn is_opaque(&self) -> bool {
        self.values.is_empty() && !self.partial
    }
}

impl PartialEq for EnumType {
    fn eq(&self, other: &EnumType) -> bool {
        std::ptr::eq(self, other) || (self.name.is_some() && self.name == other.name)
    }
}

impl Eq for EnumType {}

impl Hash for EnumType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.name {
            Some(name) => name.hash(state),
            None => (self as *const EnumType as usize).hash(state),
        }
    }
}

/// A function type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FunctionType {
    /// The return type.
    pub ret: CType,
    /// The parameter types (arrays and functions already adjusted to pointers).
    pub params: Vec<CType>,
    /// Whether it ends with `...`.
    pub variadic: bool,
}

// ---- C spelling ----

impl CType {
    /// How many characters of parameter spellings [`CType::declare`] (and
    /// `to_string`) writes before it abbreviates the remaining parameters
    /// as `…`. Types share their parts, so a type built through this API can
    /// have an exponentially long spelling; the parser's types stay far
    /// below this (see [`MAX_TYPE_PARTS`](crate::parser::MAX_TYPE_PARTS)).
    pub const MAX_SPELLING: usize = 1 << 20;

    /// This type declaring `name` (which may be empty): `int (*name)[4]`.
    ///
    /// The parameter lists of a type whose spelling would be longer than
    /// [`CType::MAX_SPELLING`] characters are cut short with `…`.
    ///
    /// ```
    /// use ffi_raw::CScalar;
    /// use ffi_typed::CType;
    ///
    /// let row = CType::array_of(CType::Scalar(CScalar::Int), Some(4));
    /// assert_eq!(CType::pointer_to(row).declare("p"), "int(*p)[4]");
    /// ```
    pub fn declare(&self, name: &str) -> String {
        let mut budget = CType::MAX_SPELLING;
        self.declare_within(name, &mut budget)
    }

    fn declare_within(&self, name: &str, budget: &mut usize) -> String {
        let (base, declarator) = self.split_declarator(name.to_string(), budget);
        if declarator.is_empty() {
            base
        } else if declarator.starts_with('[') || declarator.starts_with('(') {
            format!("{base}{declarator}")
        } else {
            format!("{base} {declarator}")
        }
    }

    /// Splits into the base type's name and the declarator around `inner`;
    /// parameter spellings are charged to `budget`.
    fn split_declarator(&self, inner: String, budget: &mut usize) -> (String, String) {
        match self {
            CType::Pointer(to) => {
                let wrapped = match &**to {
                    CType::Array(..) | CType::Function(_) => format!("(*{inner})"),
                    CType::Placeholder(p) if matches!(**p, Placeholder::Array(_)) => {
                        format!("(*{inner})")
                    }
                    _ => format!("*{inner}"),
                };
                to.split_declarator(wrapped, budget)
            }
            CType::Array(elem, len) => {
                let len = len.map(|n| n.to_string()).unwrap_or_default();
                elem.split_declarator(format!("{inner}[{len}]"), budget)
            }
            CType::Placeholder(p) => match &**p {
                Placeholder::Array(elem) => elem.split_declarator(format!("{inner}[...]"), budget),
                Placeholder::Integer(name) | Placeholder::Float(name) => (name.clone(), inner),
            },
            CType::Function(f) => {
                let mut params: Vec<String> = Vec::with_capacity(f.params.len().min(64));
                for p in &f.params {
                    if *budget == 0 {
                        params.push("…".into());
                        break;
                    }
                    // Charge what this parameter adds beyond the
                    // parameters inside it, charged already.
                    let before = *budget;
                    let spelled = p.declare_within("", budget);
                    let inside = before - *budget;
                    *budget = budget.saturating_sub(spelled.len().saturating_sub(inside).max(1));
                    params.push(spelled);
                }
                if f.variadic {
                    params.push("...".into());
                }
                if params.is_empty() {
                    params.push("void".into());
                }
                f.ret
                    .split_declarator(format!("{inner}({})", params.join(", ")), budget)
            }
            base => (base.base_name(), inner),
        }
    }

    /// Lets an anonymous struct, union or enum be spelt by the typedef that
    /// names it (`div_t` rather than `struct $anonymous`), as C programmers
    /// write it. The first typedef wins; named types are unaffected.
    pub fn name_anonymous(&self, typedef: &str) {
        let slot = match self {
            CType::Record(r) if r.name.is_none() => &r.typedef_name,
            CType::Enum(e) if e.name.is_none() => &e.typedef_name,
            _ => return,
        };
        let _ = slot.set(typedef.to_string());
    }

    fn base_name(&self) -> String {
        match self {
            CType::Void => "void".into(),
            CType::Scalar(s) => s.c_name().into(),
            CType::Record(r) => {
                let kind = match r.kind {
                    RecordKind::Struct => "struct",
                    RecordKind::Union => "union",
                };
                match (&r.name, r.typedef_name.get()) {
                    (Some(n), _) => format!("{kind} {n}"),
                    (None, Some(typedef)) => typedef.clone(),
                    (None, None) => format!("{kind} $anonymous"),
                }
            }
            CType::Enum(e) => match (&e.name, e.typedef_name.get()) {
                (Some(n), _) => format!("enum {n}"),
                (None, Some(typedef)) => typedef.clone(),
                (None, None) => "enum $anonymous".into(),
            },
            _ => unreachable!("not a base type"),
        }
    }
}

impl fmt::Display for CType {
    /// The type's C name, as in a cast: `int *`, `struct point`, `int(*)[4]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.declare(""))
    }
}

impl fmt::Debug for CType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CType({self})")
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {:?} (complete: {})",
            self.kind,
            self.name,
            self.body.get().is_some()
        )
    }
}

impl fmt::Debug for RecordBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBody")
            .field("fields", &self.fields)
            .field("size", &self.size)
            .field("align", &self.align)
            .field("packing", &self.packing)
            .field("partial", &self.partial)
            .field("layout_known", &self.layout_known())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int() -> CType {
        CType::Scalar(CScalar::Int)
    }

    #[test]
    fn spelling() {
        assert_eq!(CType::pointer_to(int()).to_string(), "int *");
        let arr = CType::array_of(int(), Some(4));
        assert_eq!(arr.to_string(), "int[4]");
        assert_eq!(CType::pointer_to(arr.clone()).to_string(), "int(*)[4]");
        assert_eq!(CType::pointer_to(arr).declare("p"), "int(*p)[4]");
        let f = CType::Function(Arc::new(FunctionType {
            ret: int(),
            params: vec![CType::pointer_to(CType::Scalar(CScalar::Char))],
            variadic: true,
        }));
        assert_eq!(
            CType::pointer_to(f).declare("printf"),
            "int(*printf)(char *, ...)"
        );
        assert_eq!(CType::pointer_to(CType::Void).to_string(), "void *");
    }

    #[test]
    fn sizes_and_incomplete_types() {
        assert_eq!(CType::array_of(int(), Some(3)).size().unwrap(), 12);
        assert!(matches!(CType::Void.size(), Err(Error::Incomplete(_))));
        let s = CType::new_record(RecordKind::Struct, Some("opaque"));
        let err = s.size().unwrap_err();
        assert_eq!(
            err.to_string(),
            "struct opaque is an incomplete type: its size is unknown"
        );
        s.complete(vec![FieldDecl::new("a", int())], Packing::Natural)
            .unwrap();
        assert_eq!(s.size().unwrap(), 4);
        assert!(matches!(
            s.complete(vec![FieldDecl::new("a", int())], Packing::Natural),
            Err(Error::AlreadyComplete(_))
        ));
    }

    #[test]
    fn sizes_stop_at_isize_max() {
        let max = isize::MAX as usize;
        let chars = CType::array_of(CType::Scalar(CScalar::Char), Some(max));
        assert_eq!(chars.size().unwrap(), max);
        // Within usize, past what an object can be.
        let ints = CType::array_of(int(), Some(1 << 61));
        assert!(matches!(ints.size(), Err(Error::TooLarge(_))));
        let nested = CType::array_of(CType::array_of(int(), Some(1 << 40)), Some(1 << 22));
        assert!(matches!(nested.size(), Err(Error::TooLarge(_))));
        let raw = CType::array_of(CType::Scalar(CScalar::Long), Some(1 << 60)).to_raw();
        assert!(matches!(raw, Err(Error::Raw(ffi_raw::Error::TooLarge(_)))));
    }

    #[test]
    fn enum_underlying_types() {
        let e = |vals: &[i128]| {
            let values = vals.iter().map(|v| (format!("V{v}"), *v)).collect();
            EnumType::new(None, values).map(|e| e.underlying)
        };
        assert_eq!(e(&[0, 1]).unwrap(), CScalar::UInt);
        assert_eq!(e(&[-1, 1]).unwrap(), CScalar::Int);
        assert_eq!(e(&[0, u32::MAX as i128]).unwrap(), CScalar::UInt);
        assert_eq!(e(&[-1, u32::MAX as i128]).unwrap(), CScalar::Long);
        assert_eq!(e(&[0, u64::MAX as i128]).unwrap(), CScalar::ULong);
        assert!(e(&[-1, u64::MAX as i128]).is_err());
    }

    #[test]
    fn raw_mapping() {
        let s = CType::new_record(RecordKind::Struct, Some("dl"));
        s.complete(
            vec![
                FieldDecl::new("d", CType::Scalar(CScalar::Double)),
                FieldDecl::new("l", CType::Scalar(CScalar::Long)),
            ],
            Packing::Natural,
        )
        .unwrap();
        let Type::Struct(raw) = s.to_raw().unwrap() else {
            panic!()
        };
        assert_eq!(raw.by_value_obstacle(), None);
        let u = CType::new_record(RecordKind::Union, None);
        u.complete(vec![FieldDecl::new("i", int())], Packing::Natural)
            .unwrap();
        let Type::Struct(raw) = u.to_raw().unwrap() else {
            panic!()
        };
        assert_eq!(raw.by_value_obstacle(), Some(AggregateKind::Union));
        let p = CType::new_record(RecordKind::Struct, None);
        p.complete(
            vec![
                FieldDecl::new("c", CType::Scalar(CScalar::Char)),
                FieldDecl::new("i", int()),
            ],
            Packing::Pack(1),
        )
        .unwrap();
        let Type::Struct(raw) = p.to_raw().unwrap() else {
            panic!()
        };
        assert_eq!(raw.by_value_obstacle(), Some(AggregateKind::Packed));
        // pack(8) changes nothing for these members: passable.
        let q = CType::new_record(RecordKind::Struct, None);
        q.complete(
            vec![
                FieldDecl::new("c", CType::Scalar(CScalar::Char)),
                FieldDecl::new("i", int()),
            ],
            Packing::Pack(8),
        )
        .unwrap();
        let Type::Struct(raw) = q.to_raw().unwrap() else {
            panic!()
        };
        assert_eq!(raw.by_value_obstacle(), None);
    }
}
