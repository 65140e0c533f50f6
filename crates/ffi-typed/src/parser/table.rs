//! The insertion-ordered name table ([`Table`]) and how names are spaced
//! and looked up in it ([`Space`], [`Key`]). Apart from what the tables
//! hold (`entries.rs`) because the container knows nothing of C: it maps
//! names, per space, to values in declaration order, and can undo its
//! newest push.

use std::sync::Arc;

use super::TagKind;
use super::hasher::FastMap;

/// Which of a table's namespaces a name is in. Ordinary identifiers have
/// one (`()`); tags have one per kind (as in cffi, where `struct foo`,
/// `union foo` and `enum foo` are three types that may all be declared).
pub(crate) trait Space: Copy {
    /// How many namespaces there are.
    const COUNT: usize;
    /// This one's number, below `COUNT`.
    fn number(self) -> usize;
}

impl Space for () {
    const COUNT: usize = 1;
    fn number(self) -> usize {
        0
    }
}

impl Space for TagKind {
    const COUNT: usize = 3;
    fn number(self) -> usize {
        self as usize
    }
}

/// How a name is looked up in a [`Table`]: an ordinary identifier by
/// itself (`"foo"`), a tag with its kind (`(TagKind::Union, "foo")`).
pub(crate) trait Key<S> {
    fn split(&self) -> (S, &str);
}

impl Key<()> for str {
    fn split(&self) -> ((), &str) {
        ((), self)
    }
}

impl Key<TagKind> for (TagKind, &str) {
    fn split(&self) -> (TagKind, &str) {
        (self.0, self.1)
    }
}

/// An insertion-ordered table of names, each in one of the table's spaces.
pub(crate) struct Table<V, S: Space = ()> {
    pub(super) entries: Vec<(S, Arc<str>, V)>,
    /// Per space: each name's position in `entries`.
    index: Vec<FastMap<Arc<str>, u32>>,
}

impl<V, S: Space> Table<V, S> {
    pub(super) fn new() -> Table<V, S> {
        Table {
            entries: Vec::new(),
            index: (0..S::COUNT).map(|_| FastMap::default()).collect(),
        }
    }

    pub(crate) fn position(&self, key: &(impl Key<S> + ?Sized)) -> Option<u32> {
        let (space, name) = key.split();
        self.index[space.number()].get(name).copied()
    }

    pub(crate) fn get(&self, key: &(impl Key<S> + ?Sized)) -> Option<&V> {
        let i = self.position(key)?;
        Some(&self.entries[i as usize].2)
    }

    pub(crate) fn value(&self, index: u32) -> &V {
        &self.entries[index as usize].2
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (S, &str, &V)> {
        self.entries.iter().map(|(s, n, v)| (*s, &**n, v))
    }

    /// Appends a name that is not in the table.
    pub(super) fn push(&mut self, key: &(impl Key<S> + ?Sized), value: V) {
        let (space, name) = key.split();
        let name: Arc<str> = name.into();
        self.index[space.number()].insert(name.clone(), self.entries.len() as u32);
        self.entries.push((space, name, value));
    }

    /// Removes the newest entry.
    pub(super) fn pop(&mut self) {
        if let Some((space, name, _)) = self.entries.pop() {
            self.index[space.number()].remove(&*name);
        }
    }

    pub(super) fn replace(&mut self, index: u32, value: V) -> V {
        std::mem::replace(&mut self.entries[index as usize].2, value)
    }
}
