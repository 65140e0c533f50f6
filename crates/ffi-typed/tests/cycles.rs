//! Self-referential structs form reference cycles in the type model (a
//! record's body holds the types of its members, which point back at it).
//! These tests check that dropping a `Declarations` frees every record the
//! program never took out of it, whatever cycles they form, and that every
//! type the program did take out stays fully usable after the drop.
//!
//! Memory is measured two ways: `ffi_typed::live_records()` (every struct
//! and union in the process) and a counting global allocator (every live
//! heap byte). Both are process-wide, so the tests of this file run one at
//! a time (`SERIAL`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ffi_raw::CScalar;
use ffi_typed::{
    CBox, CType, Declarations, FieldDecl, Packing, ParseOptions, TagKind, Value, live_records,
};

#[allow(dead_code)]
#[path = "../../../benches/data/cdef_gen.rs"]
mod cdef_gen;

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees hold; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lists, trees, mutual recursion, cycles through by-value members,
/// function pointers and typedefs.
const CYCLIC: &str = "
    struct node { struct node *next, *prev; int value; };
    typedef struct tree { struct tree *left, *right; struct node *items; } tree_t;
    struct b;
    struct a { struct b *b; long tag; };
    struct b { struct a *a; struct a inline_a; };
    struct with_cb { void (*cb)(struct with_cb *self, int); struct with_cb **all; };
    typedef struct list list_t;
    struct list { list_t *next; union { list_t *child; int leaf; }; };
    struct deep { struct deep *(*get)(struct deep *(*)[4]); };
    tree_t *tree_find(tree_t *root, int key);
    extern struct node *nodes[8];
";

/// Records in `CYCLIC`: node, tree, a, b, with_cb, list, the anonymous
/// union inside list, deep.
const CYCLIC_RECORDS: usize = 8;

/// Runs `f` `n` times and returns (records, bytes) still alive afterwards
/// that were not before, after one untimed warm-up run.
fn growth(n: usize, mut f: impl FnMut()) -> (isize, isize) {
    f();
    let (records, bytes) = (live_records() as isize, live_bytes());
    for _ in 0..n {
        f();
    }
    (live_records() as isize - records, live_bytes() - bytes)
}

#[test]
fn dropped_namespaces_free_every_record() {
    let _serial = serial();
    let (records, bytes) = growth(50, || {
        let mut d = Declarations::new();
        d.parse(CYCLIC).unwrap();
        // (Not `d.tags().count()`: iterating hands every tag out.)
        assert!(format!("{d:?}").contains("tags: 7"), "{d:?}");
        drop(d);
    });
    println!("cyclic set, 50 namespaces: {records} records, {bytes} bytes left");
    assert_eq!(records, 0, "records leaked");
    assert!(bytes.abs() < 4096, "{bytes} bytes leaked");
}

/// cffi's placeholders around cycles: partial records that refer to
/// themselves, opaque `typedef ...` structs, `[...]` arrays of records and
/// `extern "Python"` functions leading to them.
const CYCLIC_PLACEHOLDERS: &str = r#"
    struct pnode { struct pnode *next; struct pnode *kids[...]; ...; };
    typedef ... handle_t;
    typedef ... *handle_ref;
    typedef struct { handle_t *h; struct pnode *first; ...; } owner_t;
    struct by_value { owner_t owner; struct by_value *up; };
    extern owner_t owners[...];
    extern "Python" struct pnode *visit(struct pnode *, owner_t *);
    extern "Python+C" { void release(handle_t *, struct by_value *); }
    #define VERSION ...
"#;

#[test]
fn dropped_namespaces_free_placeholder_records() {
    let _serial = serial();
    let (records, bytes) = growth(50, || {
        let mut d = Declarations::new();
        d.parse(CYCLIC_PLACEHOLDERS).unwrap();
        drop(d);
    });
    println!("placeholder set, 50 namespaces: {records} records, {bytes} bytes left");
    assert_eq!(records, 0, "records leaked");
    assert!(bytes.abs() < 4096, "{bytes} bytes leaked");
    // And the records of failed parses.
    let mut d = Declarations::new();
    let (records, _) = growth(50, || {
        assert!(
            d.parse(&format!("{CYCLIC_PLACEHOLDERS}\nint oops(;"))
                .is_err()
        );
    });
    assert_eq!(records, 0, "records of failed parses leaked");
    // An extern "Python" function handed out keeps what it leads to.
    let kept = {
        let mut d = Declarations::new();
        d.parse(CYCLIC_PLACEHOLDERS).unwrap();
        d.extern_python("visit").unwrap().0
    };
    let CType::Pointer(node) = &kept.ret else {
        panic!("{:?}", kept.ret)
    };
    let CType::Record(node) = &**node else {
        panic!()
    };
    let body = node.body().expect("still complete after the drop");
    assert!(body.partial && body.field("next").is_some());
}

#[test]
fn listing_names_keeps_nothing_alive() {
    let _serial = serial();
    let (records, _) = growth(20, || {
        let mut d = Declarations::new();
        d.parse(CYCLIC).unwrap();
        let names: Vec<String> = d.names().map(|(_, n)| n.to_string()).collect();
        let tags: Vec<String> = d.tag_names().map(|(_, n)| n.to_string()).collect();
        assert_eq!(tags.len(), 7, "{tags:?}");
        assert!(names.len() + tags.len() > 7);
        drop(d);
    });
    assert_eq!(records, 0, "listing names kept records alive");
    // Whereas the iterators that yield types hand them out (and keep them).
    let (records, _) = growth(1, || {
        let mut d = Declarations::new();
        d.parse(CYCLIC).unwrap();
        assert_eq!(d.tags().count(), 7);
    });
    assert!(records > 0, "handed-out cyclic records are kept by design");
}

#[test]
fn the_benchmark_set_is_freed() {
    let _serial = serial();
    let (src, _) = cdef_gen::generate(2500);
    let (records, bytes) = growth(10, || {
        let mut d = Declarations::new();
        d.parse(&src).unwrap();
        drop(d);
    });
    println!("benchmark set, 10 namespaces: {records} records, {bytes} bytes left");
    assert_eq!(records, 0, "records leaked");
    assert!(bytes.abs() < 4096, "{bytes} bytes leaked");
}

#[test]
fn failed_parses_free_what_they_made() {
    let _serial = serial();
    let mut d = Declarations::new();
    d.parse("struct keep { struct keep *self_; };").unwrap();
    let (records, bytes) = growth(50, || {
        let err = d.parse(&format!("{CYCLIC}\nint oops(;")).unwrap_err();
        assert_eq!(err.message, "expected a parameter declaration");
    });
    println!("50 failed parses: {records} records, {bytes} bytes left");
    assert_eq!(records, 0, "records leaked");
    assert!(bytes.abs() < 4096, "{bytes} bytes leaked");
    assert!(d.tag(TagKind::Struct, "node").is_none());
    let keep = d.tag(TagKind::Struct, "keep").unwrap();
    assert_eq!(keep.size().unwrap(), 8);
}

/// The member `name` of a record type: its offset and type.
fn member(ty: &CType, name: &str) -> (usize, CType) {
    let CType::Record(r) = ty else {
        panic!("{ty} is not a record")
    };
    let body = r.body().unwrap_or_else(|| panic!("{ty} is incomplete"));
    let (offset, field) = body.field(name).unwrap();
    (offset, field.ty.clone())
}

fn pointee(ty: &CType) -> CType {
    match ty {
        CType::Pointer(to) => (**to).clone(),
        other => panic!("{other} is not a pointer"),
    }
}

#[test]
fn kept_types_stay_usable_after_the_namespace_is_dropped() {
    let _serial = serial();
    let mut d = Declarations::new();
    d.parse(CYCLIC).unwrap();
    // One of each way a type leaves a namespace.
    let tree = d.typedef("tree_t").unwrap();
    let b = d.tag(TagKind::Struct, "b").unwrap();
    let find = d.function("tree_find").unwrap();
    let nodes = d.variable("nodes").unwrap();
    let deep_ptr = d.parse_type("struct deep *").unwrap();
    let list: CType = d
        .typedefs()
        .find(|(name, _)| *name == "list_t")
        .map(|(_, ty)| ty.clone())
        .unwrap();
    let cb = d
        .tags()
        .find(|(_, name, _)| *name == "with_cb")
        .map(|(_, _, ty)| ty.clone())
        .unwrap();
    drop(d);

    // tree_t: sizes, members, following pointers round the cycle.
    assert_eq!((tree.size().unwrap(), tree.align().unwrap()), (24, 8));
    let (offset, right) = member(&tree, "right");
    assert_eq!(offset, 8);
    assert_eq!(pointee(&right), tree);
    let left_of_right = member(&pointee(&right), "left").1;
    assert_eq!(left_of_right.to_string(), "struct tree *");
    let node = pointee(&member(&tree, "items").1);
    assert_eq!(node.size().unwrap(), 24);
    let next = pointee(&member(&node, "next").1);
    assert_eq!(member(&next, "value").0, 16);

    // b -> a (by value and by pointer) -> b.
    assert_eq!(b.size().unwrap(), 24);
    let a = member(&b, "inline_a").1;
    assert_eq!(member(&pointee(&member(&a, "b").1), "a").0, 0);
    assert_eq!(a.to_raw().unwrap().size(), 16);

    // A function signature, a variable, parse_type, the iterators.
    assert_eq!(find.params[0].to_string(), "struct tree *");
    assert_eq!(pointee(&find.ret), tree);
    assert_eq!(nodes.size().unwrap(), 64);
    let CType::Array(elem, Some(8)) = &nodes else {
        panic!("{nodes}")
    };
    assert_eq!(member(&pointee(elem), "prev").0, 8);
    let deep = pointee(&deep_ptr);
    assert_eq!(deep.size().unwrap(), 8);
    assert_eq!(
        member(&deep, "get").1.to_string(),
        "struct deep *(*)(struct deep *(*)[4])"
    );
    assert_eq!(member(&list, "leaf").0, 8);
    assert_eq!(pointee(&member(&list, "child").1), list);
    let (_, cb_member) = member(&cb, "cb");
    assert_eq!(cb_member.to_string(), "void(*)(struct with_cb *, int)");

    // Typed memory over the kept types.
    let mut boxed = CBox::new(tree.clone()).unwrap();
    boxed
        .view_mut()
        .field("left")
        .unwrap()
        .write(&Value::Pointer(0x1000))
        .unwrap();
    assert_eq!(
        boxed.view().field("left").unwrap().read().unwrap(),
        Value::Pointer(0x1000)
    );
}

#[test]
fn an_opaque_type_kept_after_the_drop_can_still_be_completed() {
    let _serial = serial();
    let mut d = Declarations::new();
    d.parse("struct later; struct user { struct later *l; struct user *u; };")
        .unwrap();
    let later = d.tag(TagKind::Struct, "later").unwrap();
    let user = d.parse_type("struct user").unwrap();
    drop(d);
    assert!(later.size().is_err());
    later
        .complete(
            vec![
                FieldDecl::new("x", CType::Scalar(CScalar::Double)),
                FieldDecl::new("back", CType::pointer_to(user.clone())),
            ],
            Packing::Natural,
        )
        .unwrap();
    assert_eq!(later.size().unwrap(), 16);
    let through_user = pointee(&member(&user, "l").1);
    assert_eq!(through_user.size().unwrap(), 16);
    assert_eq!(pointee(&member(&through_user, "back").1), user);
}

#[test]
fn only_what_was_kept_survives() {
    let _serial = serial();
    let before = live_records();
    let mut d = Declarations::new();
    d.parse(
        "struct one { struct two *t; }; struct two { struct one *o; };
         struct other { struct other *self_; };
         struct third { struct third *x; };",
    )
    .unwrap();
    let one_ptr = d.parse_type("struct one *").unwrap();
    drop(d);
    // `one` and `two` (reachable from the kept type) stay; `other` and
    // `third` are freed.
    assert_eq!(live_records() - before, 2);
    let two = pointee(&member(&pointee(&one_ptr), "t").1);
    assert_eq!(two.to_string(), "struct two");
    assert_eq!(two.size().unwrap(), 8);
    drop((one_ptr, two));
}

#[test]
fn a_definition_completing_a_kept_opaque_type_survives() {
    let _serial = serial();
    let mut d = Declarations::new();
    d.parse("struct later;").unwrap();
    let later = d.tag(TagKind::Struct, "later").unwrap();
    // A later parse defines it (self-referentially, through a typedef made
    // in the same parse).
    d.parse("typedef struct later later_t; struct later { later_t *next; int v; };")
        .unwrap();
    drop(d);
    assert_eq!(later.size().unwrap(), 16);
    let next = pointee(&member(&later, "next").1);
    assert_eq!(member(&next, "v").0, 8);
    assert_eq!(pointee(&member(&next, "next").1).size().unwrap(), 16);
}

#[test]
fn override_and_packing_options_free_too() {
    let _serial = serial();
    let (records, bytes) = growth(20, || {
        let mut d = Declarations::new();
        d.parse(CYCLIC).unwrap();
        let options = ParseOptions::default()
            .with_override(true)
            .with_packing(Packing::Pack(2));
        d.parse_with("struct node { struct node *next; char c; };", options)
            .unwrap();
        d.parse_with(CYCLIC, options).unwrap();
        drop(d);
    });
    assert_eq!((records, bytes.abs() < 4096), (0, true), "{bytes} bytes");
}

/// Follows the first pointer-to-record member `steps` times from `ty`,
/// adding up the sizes of the records it passes.
fn walk(ty: &CType, steps: usize) -> usize {
    let mut ty = ty.clone();
    let mut total = 0;
    for _ in 0..steps {
        total += ty.size().unwrap();
        let CType::Record(r) = &ty else { break };
        let next = r.body().unwrap().fields.iter().find_map(|f| match &f.ty {
            CType::Pointer(to) if matches!(**to, CType::Record(_)) => Some((**to).clone()),
            _ => None,
        });
        match next {
            Some(next) => ty = next,
            None => break,
        }
    }
    total
}

#[test]
fn threads_keep_using_types_while_their_namespace_is_dropped() {
    let _serial = serial();
    let before = live_records();
    for round in 0..20 {
        let mut d = Declarations::new();
        d.parse(CYCLIC).unwrap();
        // Its records, the namespace's `FILE`, and what earlier rounds kept.
        assert_eq!(live_records() - before, CYCLIC_RECORDS + 1 + 4 * round);
        let kept: Arc<Vec<CType>> = Arc::new(
            ["tree_t", "list_t"]
                .iter()
                .map(|n| d.typedef(n).unwrap())
                .collect(),
        );
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .map(|_| kept.iter().map(|ty| walk(ty, 20)).sum::<usize>())
                        .sum::<usize>()
                })
            })
            .collect();
        drop(d);
        for w in workers {
            // tree_t: 20 steps of 24 bytes; list_t: 20 of 16.
            assert_eq!(w.join().unwrap(), 500 * (20 * 24 + 20 * 16));
        }
    }
    // What the threads kept was freed with them, except the cycles they
    // hold (tree, node, list and its union): those stay until the last
    // kept type goes, and here they never go, being cyclic. Each of the 20
    // rounds leaves exactly those.
    assert_eq!(live_records() - before, 20 * 4);
}
