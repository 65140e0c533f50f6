//! The cycle release (`ctype::release_cycles`) on small inputs, small
//! enough for Miri: `cargo +nightly miri test -p ffi-typed --lib cycle_release`.
//! Tests only, of what a [`Declarations`] frees when dropped and when a
//! parse is rolled back, kept apart from the code they test (`mod.rs`,
//! `namespace.rs`).

use super::*;

const CYCLIC: &str = "struct node { struct node *next; int v; };
        typedef struct a { struct b *b; } a_t; struct b { a_t *a; a_t inline_a; };
        typedef void (*cb_t)(struct node *, a_t *);";

fn member(ty: &CType, name: &str) -> CType {
    let CType::Record(r) = ty else { panic!("{ty}") };
    r.body().unwrap().field(name).unwrap().1.ty.clone()
}

fn pointee(ty: &CType) -> CType {
    let CType::Pointer(to) = ty else {
        panic!("{ty}")
    };
    (**to).clone()
}

/// Under Miri, run alone, its leak check proves everything is freed:
/// `cargo +nightly miri test -p ffi-typed --lib cycle_release_frees`.
#[test]
fn cycle_release_frees_what_was_not_handed_out() {
    let mut d = Declarations::new();
    d.parse(CYCLIC).unwrap();
    assert!(d.parse("struct c { struct c *c; }; int oops(;").is_err());
    let replace = ParseOptions::default().with_override(true);
    d.parse_with("struct node { struct node *next; };", replace)
        .unwrap();
    assert_eq!(d.constant("nothing"), None);
    drop(d);
}

/// Kept types stay usable (and, being cyclic, are never freed: run
/// under Miri with `MIRIFLAGS=-Zmiri-ignore-leaks`).
#[test]
fn cycle_release_keeps_what_was_handed_out() {
    let mut d = Declarations::new();
    d.parse(CYCLIC).unwrap();
    let a = d.typedef("a_t").unwrap();
    let cb = d.parse_type("cb_t").unwrap();
    // A failed parse: its records are released at once.
    assert!(d.parse("struct c { struct c *c; }; int oops(;").is_err());
    drop(d);
    let b = pointee(&member(&a, "b"));
    assert_eq!(b.size().unwrap(), 16);
    assert_eq!(pointee(&member(&b, "a")), a);
    assert_eq!(pointee(&member(&member(&b, "inline_a"), "b")), b);
    assert_eq!(cb.to_string(), "void(*)(struct node *, struct a *)");
    let CType::Pointer(f) = &cb else { panic!() };
    let CType::Function(f) = &**f else { panic!() };
    let node = pointee(&f.params[0]);
    assert_eq!(pointee(&member(&node, "next")), node);
    assert_eq!(member(&node, "v").size().unwrap(), 4);
}

#[test]
fn cycle_release_while_another_thread_reads() {
    let mut d = Declarations::new();
    d.parse(CYCLIC).unwrap();
    let node = d.tag(TagKind::Struct, "node").unwrap();
    let reader = std::thread::spawn(move || {
        let mut ty = node;
        for _ in 0..10 {
            ty = pointee(&member(&ty, "next"));
        }
        ty.size().unwrap()
    });
    drop(d);
    assert_eq!(reader.join().unwrap(), 16);
}
