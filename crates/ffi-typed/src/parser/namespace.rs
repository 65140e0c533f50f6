//! The namespace a [`Declarations`](super::Declarations) parses into
//! ([`Namespace`]: its two tables, predeclared types and the records it
//! made) and what makes each parse all or nothing: the journal of changes
//! ([`Undo`]), the opaque records a parse completes ([`Pending`]), and
//! `commit`/`rollback`. Kept out of `mod.rs`, which holds the public API,
//! because no caller outside the parser sees it: `Declarations` wraps it and
//! the parser (`parse.rs`) writes through it.

use std::sync::{Arc, Mutex, Weak};

use ffi_raw::CScalar;

use super::TagKind;
use super::entries::{ExternEntry, Symbol, TagEntry, Ty};
use super::hasher::FastMap;
use super::table::Table;
use crate::ctype::{self, CType, Record, RecordKind};
use crate::layout::{FieldDecl, Packing};

/// How to undo one change to the namespace.
#[derive(Debug)]
pub(crate) enum Undo {
    OrdinaryPush,
    OrdinaryReplace(u32, Symbol),
    TagPush,
    TagReplace(u32, TagEntry),
    ExternPush,
    ExternReplace(u32, ExternEntry),
}

/// A record declared opaque by an earlier parse and defined by this one.
/// The parse uses a stand-in of the same name; on success the original is
/// completed the same way and takes its place back, so types made before
/// see the definition and a failed parse leaves the original opaque.
#[derive(Debug)]
pub(crate) struct Pending {
    pub tag_index: u32,
    pub original: TagEntry,
    pub stand_in: CType,
    pub fields: Vec<FieldDecl>,
    pub packing: Packing,
}

pub(crate) struct Namespace {
    pub ordinary: Table<Symbol>,
    pub tags: Table<TagEntry, TagKind>,
    /// The functions declared `extern "Python"`.
    pub extern_python: Table<ExternEntry>,
    pub journal: Vec<Undo>,
    pub pending: Vec<Pending>,
    pub generation: u64,
    /// `T *` for every scalar `T`, and `void *` last: shared, not allocated
    /// per declaration.
    pub scalar_pointers: Vec<Ty>,
    /// `FILE`: an opaque struct.
    pub file: CType,
    /// Every struct and union this namespace made (see
    /// `ctype::release_cycles`); dead entries are pruned now and then.
    pub records: Vec<Weak<Record>>,
    /// `records.len()` when the current parse began.
    pub parse_start: usize,
    /// `records.len()` after the last pruning.
    pub records_pruned: usize,
    /// Opaque records and enums that type names made for undeclared tags,
    /// by kind and tag: each spelling of `struct foo` in a type name is the
    /// same record. (Opaque, so they hold no cycles; not declared, so a
    /// later definition of the tag makes its own type, equal by name.)
    pub undeclared: Mutex<FastMap<(TagKind, Box<str>), CType>>,
}

impl Namespace {
    pub(super) fn new() -> Namespace {
        let mut scalar_pointers: Vec<Ty> = CScalar::ALL
            .iter()
            .map(|&s| Ty {
                ty: CType::pointer_to(CType::Scalar(s)),
                depth: 2,
                parts: 2,
            })
            .collect();
        scalar_pointers.push(Ty {
            ty: CType::pointer_to(CType::Void),
            depth: 2,
            parts: 2,
        });
        Namespace {
            ordinary: Table::new(),
            tags: Table::new(),
            extern_python: Table::new(),
            journal: Vec::new(),
            pending: Vec::new(),
            generation: 0,
            scalar_pointers,
            file: CType::new_record(RecordKind::Struct, Some("_IO_FILE")),
            records: Vec::new(),
            parse_start: 0,
            records_pruned: 0,
            undeclared: Mutex::new(FastMap::default()),
        }
    }

    /// A new struct or union, remembered for `ctype::release_cycles`.
    pub(crate) fn new_record(&mut self, kind: RecordKind, name: Option<&str>) -> CType {
        let (ty, weak) = Record::new_private(kind, name);
        self.records.push(weak);
        ty
    }

    pub(crate) fn push_ordinary(&mut self, name: &str, symbol: Symbol) {
        self.ordinary.push(name, symbol);
        self.journal.push(Undo::OrdinaryPush);
    }

    pub(crate) fn replace_ordinary(&mut self, index: u32, symbol: Symbol) {
        let old = self.ordinary.replace(index, symbol);
        self.journal.push(Undo::OrdinaryReplace(index, old));
    }

    pub(crate) fn push_tag(&mut self, kind: TagKind, name: &str, ty: CType) {
        let generation = self.generation;
        self.tags.push(&(kind, name), TagEntry { ty, generation });
        self.journal.push(Undo::TagPush);
    }

    pub(crate) fn replace_tag(&mut self, index: u32, ty: CType) {
        let generation = self.generation;
        let old = self.tags.replace(index, TagEntry { ty, generation });
        self.journal.push(Undo::TagReplace(index, old));
    }

    pub(crate) fn push_extern(&mut self, name: &str, entry: ExternEntry) {
        self.extern_python.push(name, entry);
        self.journal.push(Undo::ExternPush);
    }

    pub(crate) fn replace_extern(&mut self, index: u32, entry: ExternEntry) {
        let old = self.extern_python.replace(index, entry);
        self.journal.push(Undo::ExternReplace(index, old));
    }

    pub(super) fn commit(&mut self) {
        self.journal.clear();
        if self.records.len() >= 2 * self.records_pruned.max(64) {
            self.records.retain(|r| r.strong_count() > 0);
            self.records_pruned = self.records.len();
        }
        for p in std::mem::take(&mut self.pending) {
            // The stand-in's layout succeeded, so the original's (same
            // members, same packing) does too; it is complete already only
            // if someone completed it through the CType API meanwhile.
            let _ = p.original.ty.complete(p.fields, p.packing);
            let index = p.tag_index;
            if let CType::Record(current) = &self.tags.value(index).ty
                && let CType::Record(stand_in) = &p.stand_in
                && Arc::ptr_eq(current, stand_in)
            {
                self.tags.replace(index, p.original);
            }
        }
    }

    pub(super) fn rollback(&mut self) {
        self.pending.clear();
        while let Some(undo) = self.journal.pop() {
            match undo {
                Undo::OrdinaryPush => self.ordinary.pop(),
                Undo::OrdinaryReplace(i, old) => {
                    self.ordinary.replace(i, old);
                }
                Undo::TagPush => self.tags.pop(),
                Undo::TagReplace(i, old) => {
                    self.tags.replace(i, old);
                }
                Undo::ExternPush => self.extern_python.pop(),
                Undo::ExternReplace(i, old) => {
                    self.extern_python.replace(i, old);
                }
            }
        }
        // Nothing outside the namespace has seen what the failed parse made.
        // SAFETY: `rollback` runs under `&mut` of the namespace's owner, and
        // the records of this parse were never handed out (no lookup can run
        // during a parse), so none is escaped or reachable from outside.
        unsafe { ctype::release_cycles(&self.records[self.parse_start..]) };
        self.records.truncate(self.parse_start);
    }
}
