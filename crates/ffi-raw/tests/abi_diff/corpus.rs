//! The generated signatures: a small type language mirrored in C and in
//! `ffi_raw::Type`, proptest strategies over it, and a one-line text form
//! that carries a case to the child process.

use ffi_raw::{ArrayType, CScalar, StructType, Type};
use proptest::prelude::*;

/// A C type of the corpus.
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    Scalar(CScalar),
    /// A struct of these fields, with C's natural layout.
    Struct(Vec<Ty>),
    /// `element[len]`, only as a struct field.
    Array(Box<Ty>, usize),
}

/// A scalar inside a value: its C access path suffix (`.f1[2].f0`), its byte
/// offset in the value by ffi-raw's layout, and its C type.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub path: String,
    pub offset: usize,
    pub scalar: CScalar,
}

impl Leaf {
    /// The bytes of the leaf that carry its value: `long double` uses 10 of
    /// its 16 bytes on x86-64; the rest is padding.
    pub fn value_size(&self) -> usize {
        match self.scalar {
            CScalar::LongDouble => 10,
            s => s.raw_type().size(),
        }
    }
}

impl Ty {
    pub fn raw(&self) -> Type {
        match self {
            Ty::Scalar(s) => s.raw_type(),
            Ty::Struct(fields) => Type::Struct(
                StructType::new(fields.iter().map(Ty::raw)).expect("corpus structs are valid"),
            ),
            Ty::Array(elem, n) => {
                Type::Array(ArrayType::new(elem.raw(), *n).expect("corpus arrays are valid"))
            }
        }
    }

    pub fn size(&self) -> usize {
        self.raw().size()
    }

    pub fn leaves(&self) -> Vec<Leaf> {
        let mut out = Vec::new();
        collect_leaves(self, &self.raw(), String::new(), 0, &mut out);
        out
    }

    /// The type a variadic argument of this type is passed as (C's default
    /// argument promotions).
    pub fn promoted(&self) -> Ty {
        match self {
            Ty::Scalar(s) => match s.raw_type() {
                Type::F32 => Ty::Scalar(CScalar::Double),
                Type::I8 | Type::U8 | Type::I16 | Type::U16 => Ty::Scalar(CScalar::Int),
                _ => self.clone(),
            },
            other => other.clone(),
        }
    }
}

fn collect_leaves(ty: &Ty, raw: &Type, path: String, base: usize, out: &mut Vec<Leaf>) {
    match (ty, raw) {
        (Ty::Scalar(s), _) => out.push(Leaf {
            path,
            offset: base,
            scalar: *s,
        }),
        (Ty::Struct(fields), Type::Struct(st)) => {
            for (i, ((field, field_raw), offset)) in
                fields.iter().zip(st.fields()).zip(st.offsets()).enumerate()
            {
                collect_leaves(field, field_raw, format!("{path}.f{i}"), base + offset, out);
            }
        }
        (Ty::Array(elem, n), Type::Array(at)) => {
            let size = at.element().size();
            for i in 0..*n {
                collect_leaves(
                    elem,
                    at.element(),
                    format!("{path}[{i}]"),
                    base + i * size,
                    out,
                );
            }
        }
        _ => unreachable!("Ty and Type mirror each other"),
    }
}

/// One generated signature.
#[derive(Clone, Debug)]
pub struct Case {
    pub args: Vec<Ty>,
    /// `None` for `void`.
    pub ret: Option<Ty>,
    /// `Some(n)`: variadic with `n` fixed arguments.
    pub fixed: Option<usize>,
}

// ---- strategies ----

fn scalar() -> impl Strategy<Value = CScalar> {
    proptest::sample::select(CScalar::ALL.to_vec())
}

/// Structs of 1..=64 bytes, nested up to `depth` levels, with arrays.
pub fn struct_ty(depth: u32) -> BoxedStrategy<Ty> {
    let scalar_field = scalar().prop_map(Ty::Scalar);
    let array_field =
        (scalar(), 1usize..=6).prop_map(|(s, n)| Ty::Array(Box::new(Ty::Scalar(s)), n));
    let field = if depth == 0 {
        prop_oneof![6 => scalar_field, 1 => array_field].boxed()
    } else {
        let inner = struct_ty(depth - 1);
        prop_oneof![
            8 => scalar_field,
            2 => array_field,
            2 => inner.clone(),
            1 => (inner, 1usize..=3).prop_map(|(s, n)| Ty::Array(Box::new(s), n)),
        ]
        .boxed()
    };
    proptest::collection::vec(field, 1..=6)
        .prop_map(Ty::Struct)
        .prop_filter("structs of 1 to 64 bytes", |t| t.size() <= 64)
        .boxed()
}

fn value_ty() -> BoxedStrategy<Ty> {
    prop_oneof![3 => scalar().prop_map(Ty::Scalar), 2 => struct_ty(2)].boxed()
}

fn ret_ty() -> BoxedStrategy<Option<Ty>> {
    prop_oneof![1 => Just(None), 6 => value_ty().prop_map(Some)].boxed()
}

/// Fixed-arity signatures of 0..=16 arguments (enough to spill registers
/// onto the stack) and variadic ones of 1..=3 fixed plus 0..=8 variadic.
pub fn case() -> BoxedStrategy<Case> {
    let fixed =
        (proptest::collection::vec(value_ty(), 0..=16), ret_ty()).prop_map(|(args, ret)| Case {
            args,
            ret,
            fixed: None,
        });
    let variadic_arg = prop_oneof![4 => scalar().prop_map(Ty::Scalar), 1 => struct_ty(1)];
    let variadic = (
        proptest::collection::vec(value_ty(), 1..=3),
        proptest::collection::vec(variadic_arg, 0..=8),
        ret_ty(),
    )
        .prop_map(|(mut args, extra, ret)| {
            let fixed = Some(args.len());
            args.extend(extra);
            Case { args, ret, fixed }
        });
    prop_oneof![3 => fixed, 1 => variadic].boxed()
}

/// Known-tricky signatures, checked on every run before the generated ones
/// (scalar indexes are positions in `CScalar::ALL`: 0 `_Bool`, 1 `char`,
/// 4 `short`, 6 `int`, 8 `long`, 25 `float`, 26 `double`, 27 `long double`,
/// 28 `void *`).
pub const CATALOGUE: &[&str] = &[
    // One `long double` in a struct: returned in st(0), like a long double
    // (libffi gets this wrong; see cif::libffi_return_type).
    "-|{27}|6",
    "1|{27}|6 {27} 27",
    "-|{{27}}|{27}",
    "-|{[1;27]}|",
    "-|{27,6}|{27,6} 27",
    // Mixed eightbytes: SSE+INTEGER, INTEGER+SSE, all SSE, all INTEGER.
    "-|{26,8}|{26,8} {8,26}",
    "-|{8,26}|{26,8}",
    "-|{25,25,25}|{25,25,25} {25,25,25}",
    "-|{25,6}|{6,25} {25,25,6}",
    "-|{1,6,4}|{1,6,4} {1,6,4}",
    // 17 to 24 bytes: returned in memory, passed on the stack.
    "-|{[17;1]}|{[17;1]} {8,8,1}",
    "-|{26,26,26}|{26,26,26} {8,8,8}",
    // Over 64 bytes: array members are described to libffi as one opaque
    // element each (see types::FfiStruct), in memory either way.
    "-|{[65;1]}|{[65;1]} 6",
    "-|{6,[20;26],1}|{6,[20;26],1} 6 {[100;1],8}",
    "-|{[3;{1,[30;6]}],27}|{[3;{1,[30;6]}],27} 26",
    "-|{[2;{[9;25]}],{[17;4]},28}|26 {[2;{[9;25]}],{[17;4]},28} {[9;26]}",
    "1|6|6 {[9;26]} {[70;1],6}",
    // Registers run out: a two-word struct after five integers goes whole to
    // the stack; a ninth double spills.
    "-|8|6 6 6 6 6 {8,8} 6",
    "-|26|26 26 26 26 26 26 26 26 26 {26,26}",
    // Small integers on the stack (libffi does not extend them itself).
    "-|6|8 8 8 8 8 8 1 4 2 5 0",
    // Variadic promotions of every small type, and float.
    "1|6|28 0 1 2 3 4 5 12 13 14 15 25",
    "1|26|6 25 25 25 25 25 25 25 25 25",
];

// ---- text form: `fixed|ret|arg arg ...` ----

impl Ty {
    fn write(&self, out: &mut String) {
        match self {
            Ty::Scalar(s) => {
                let index = CScalar::ALL.iter().position(|x| x == s).expect("in ALL");
                out.push_str(&index.to_string());
            }
            Ty::Struct(fields) => {
                out.push('{');
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    f.write(out);
                }
                out.push('}');
            }
            Ty::Array(elem, n) => {
                out.push_str(&format!("[{n};"));
                elem.write(out);
                out.push(']');
            }
        }
    }

    fn parse(s: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Ty {
        let number = |s: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n = 0usize;
            while let Some(d) = s.peek().and_then(|c| c.to_digit(10)) {
                n = n * 10 + d as usize;
                s.next();
            }
            n
        };
        match s.peek() {
            Some('{') => {
                s.next();
                let mut fields = vec![Ty::parse(s)];
                while s.next() == Some(',') {
                    fields.push(Ty::parse(s));
                }
                Ty::Struct(fields)
            }
            Some('[') => {
                s.next();
                let n = number(s);
                assert_eq!(s.next(), Some(';'));
                let elem = Ty::parse(s);
                assert_eq!(s.next(), Some(']'));
                Ty::Array(Box::new(elem), n)
            }
            _ => Ty::Scalar(CScalar::ALL[number(s)]),
        }
    }
}

impl Case {
    pub fn to_line(&self) -> String {
        let mut out = match self.fixed {
            Some(n) => n.to_string(),
            None => "-".to_string(),
        };
        out.push('|');
        match &self.ret {
            Some(t) => t.write(&mut out),
            None => out.push('v'),
        }
        out.push('|');
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            a.write(&mut out);
        }
        out
    }

    pub fn from_line(line: &str) -> Case {
        let mut parts = line.splitn(3, '|');
        let fixed = match parts.next().expect("fixed") {
            "-" => None,
            n => Some(n.parse().expect("fixed count")),
        };
        let ret = match parts.next().expect("ret") {
            "v" => None,
            t => Some(Ty::parse(&mut t.chars().peekable())),
        };
        let args = parts
            .next()
            .expect("args")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|t| Ty::parse(&mut t.chars().peekable()))
            .collect();
        Case { args, ret, fixed }
    }
}
