//! Whether two types, record bodies or functions are the same declaration
//! ([`same_type`], [`same_body`]), which decides whether declaring a name
//! again is allowed or a redefinition. Apart from `CType`'s `==` (in
//! `ctype.rs`), which compares anonymous records and enums by identity:
//! here they are the same if their members are, and the comparison
//! remembers shared parts so that it stays linear in them.

use std::hash::BuildHasherDefault;
use std::sync::Arc;

use super::hasher::FxHasher;
use crate::ctype::{CType, FunctionType, RecordBody};
use crate::placeholder::Placeholder;

/// Whether two types are the same declaration. Named structs, unions and
/// enums are the same by name (as `CType` equality has it); anonymous ones,
/// which compare by identity there, are the same here if their members or
/// enumerators are, so that parsing a declaration again is not a
/// redefinition. (Anonymous types cannot refer to themselves, so this ends.)
pub(crate) fn same_type(a: &CType, b: &CType) -> bool {
    Same::default().ty(a, b)
}

/// Same members (names, types, offsets, bitfields) and layout.
pub(crate) fn same_body(x: &RecordBody, y: &RecordBody) -> bool {
    Same::default().body(x, y)
}

/// The comparison behind [`same_type`]. Types share their parts, so a type
/// built from a few declarations can have exponentially many paths
/// (`typedef void (*f1)(f0, f0); typedef void (*f2)(f1, f1); ...`): pairs of
/// shared parts already compared are remembered, which keeps the work
/// proportional to the parts' number, not to the paths'. (Remembering a
/// pair as equal before its comparison ends is safe: the answer is a
/// conjunction, so a difference anywhere ends the whole comparison.)
#[derive(Default)]
struct Same {
    seen: std::collections::HashSet<(usize, usize), BuildHasherDefault<FxHasher>>,
}

impl Same {
    /// Whether the pair of shared parts at these addresses is new.
    fn first_time<T>(&mut self, x: &Arc<T>, y: &Arc<T>) -> bool {
        !Arc::ptr_eq(x, y)
            && self.seen.insert((
                Arc::as_ptr(x) as *const u8 as usize,
                Arc::as_ptr(y) as *const u8 as usize,
            ))
    }

    fn ty(&mut self, a: &CType, b: &CType) -> bool {
        match (a, b) {
            (CType::Pointer(x), CType::Pointer(y)) => !self.first_time(x, y) || self.ty(x, y),
            (CType::Array(x, n), CType::Array(y, m)) => {
                n == m && (!self.first_time(x, y) || self.ty(x, y))
            }
            (CType::Function(f), CType::Function(g)) => {
                !self.first_time(f, g) || self.function(f, g)
            }
            (CType::Record(r), CType::Record(s)) if r.name().is_none() && s.name().is_none() => {
                if !self.first_time(r, s) {
                    return true;
                }
                r.kind() == s.kind()
                    && match (r.body(), s.body()) {
                        (Some(x), Some(y)) => self.body(x, y),
                        _ => false,
                    }
            }
            (CType::Enum(e), CType::Enum(f)) if e.name.is_none() && f.name.is_none() => {
                Arc::ptr_eq(e, f) || (e.values == f.values && e.partial == f.partial)
            }
            (CType::Placeholder(p), CType::Placeholder(q)) => match (&**p, &**q) {
                (Placeholder::Array(x), Placeholder::Array(y)) => self.ty(x, y),
                _ => p == q,
            },
            _ => a == b,
        }
    }

    fn function(&mut self, f: &FunctionType, g: &FunctionType) -> bool {
        f.variadic == g.variadic
            && f.params.len() == g.params.len()
            && self.ty(&f.ret, &g.ret)
            && f.params.iter().zip(&g.params).all(|(p, q)| self.ty(p, q))
    }

    fn body(&mut self, x: &RecordBody, y: &RecordBody) -> bool {
        x.size == y.size
            && x.align == y.align
            && x.packing == y.packing
            && x.partial == y.partial
            && x.layout_known() == y.layout_known()
            && x.fields.len() == y.fields.len()
            && x.fields.iter().zip(&y.fields).all(|(f, g)| {
                f.name == g.name
                    && f.offset == g.offset
                    && f.bits == g.bits
                    && self.ty(&f.ty, &g.ty)
            })
    }
}

pub(super) fn same_function(f: &FunctionType, g: &FunctionType) -> bool {
    Same::default().function(f, g)
}
