//! The generated definitions: a small model of C record and enum
//! definitions, its one-line text form (for replaying a case), member naming,
//! and the probes both sides answer.
//!
//! A case is one top-level struct or union plus the enums its members use.
//! Records used as named members (`struct r3 m2;`, also as array elements)
//! are tagged and defined at file scope, each with its own packing;
//! anonymous members (`struct { ... };`, C11) are defined inline and so
//! live under their enclosing definition's `#pragma pack`.

use std::fmt::Write as _;

use ffi_raw::CScalar;
use ffi_typed::Packing;

/// One generated definition.
#[derive(Clone, Debug)]
pub struct Case {
    pub enums: Vec<EnumDef>,
    pub top: Rec,
}

/// An enum: each enumerator has an explicit value or (`None`) the previous
/// one plus one, as in C.
#[derive(Clone, Debug)]
pub struct EnumDef {
    pub items: Vec<Option<i128>>,
}

impl EnumDef {
    /// The enumerators' values, as C assigns them.
    pub fn values(&self) -> Vec<i128> {
        let mut prev: Option<i128> = None;
        self.items
            .iter()
            .map(|item| {
                let v = item.unwrap_or_else(|| prev.map_or(0, |p| p + 1));
                prev = Some(v);
                v
            })
            .collect()
    }
}

/// A struct or union definition.
#[derive(Clone, Debug)]
pub struct Rec {
    pub union: bool,
    /// Laid out with Microsoft's bitfield rules: `__attribute__((ms_struct))`
    /// in C, `BitfieldRules::MS` in ffi-typed.
    pub ms: bool,
    pub packing: Packing,
    pub members: Vec<Member>,
    /// Assigned by [`Case::assign_names`]: `r{id}` is its tag (anonymous
    /// members' records have an id but no tag in C).
    pub id: usize,
}

#[derive(Clone, Debug)]
pub enum Member {
    /// `T name;`
    Field { ty: Ty, name: String },
    /// `T name[];` (flexible array member, a struct's last member).
    Flex { elem: Ty, name: String },
    /// `T name : width;` or, unnamed, `T : width;`.
    Bits {
        ty: IntTy,
        width: u32,
        name: Option<String>,
    },
    /// An anonymous struct or union member.
    Anon(Rec),
}

/// A member's type.
#[derive(Clone, Debug)]
pub enum Ty {
    /// Any C scalar but `CScalar::Pointer`.
    Scalar(CScalar),
    /// `void *`
    Pointer,
    /// `enum e{index}` of the case.
    Enum(usize),
    /// `T[n]`
    Array(Box<Ty>, usize),
    /// A tagged struct or union.
    Rec(Box<Rec>),
}

/// A bitfield's type.
#[derive(Clone, Copy, Debug)]
pub enum IntTy {
    Scalar(CScalar),
    Enum(usize),
}

// ---- names ----

impl Case {
    /// Names every named member `m{n}` and numbers every record, in
    /// pre-order; names are unique in the whole case, as anonymous members
    /// need (their members are looked up in the enclosing record).
    pub fn assign_names(&mut self) {
        let mut counters = (0usize, 0usize);
        self.top.assign_names(&mut counters);
    }
}

impl Rec {
    fn assign_names(&mut self, c: &mut (usize, usize)) {
        self.id = c.1;
        c.1 += 1;
        for m in &mut self.members {
            let mut fresh = || {
                let n = format!("m{}", c.0);
                c.0 += 1;
                n
            };
            match m {
                Member::Field { ty, name } => {
                    *name = fresh();
                    ty.assign_names(c);
                }
                Member::Flex { elem, name } => {
                    *name = fresh();
                    elem.assign_names(c);
                }
                Member::Bits { name: Some(n), .. } => *n = fresh(),
                Member::Bits { name: None, .. } => {}
                Member::Anon(r) => r.assign_names(c),
            }
        }
    }

    /// Counts this record and every record inside it.
    pub fn count_records(&self) -> usize {
        1 + self
            .members
            .iter()
            .map(|m| match m {
                Member::Field { ty, .. } | Member::Flex { elem: ty, .. } => ty.count_records(),
                Member::Anon(r) => r.count_records(),
                Member::Bits { .. } => 0,
            })
            .sum::<usize>()
    }
}

impl Ty {
    fn assign_names(&mut self, c: &mut (usize, usize)) {
        match self {
            Ty::Array(elem, _) => elem.assign_names(c),
            Ty::Rec(r) => r.assign_names(c),
            _ => {}
        }
    }

    fn count_records(&self) -> usize {
        match self {
            Ty::Array(elem, _) => elem.count_records(),
            Ty::Rec(r) => r.count_records(),
            _ => 0,
        }
    }
}

// ---- probes ----

/// One step of a C member path.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Name(String),
    Index(usize),
}

/// A path from the top-level object, e.g. `.m1[0].m4`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Path(pub Vec<Step>);

impl Path {
    fn with(&self, step: Step) -> Path {
        let mut p = self.clone();
        p.0.push(step);
        p
    }

    /// The path as a C postfix expression suffix: `.m1[0].m4`.
    pub fn suffix(&self) -> String {
        let mut out = String::new();
        for s in &self.0 {
            match s {
                Step::Name(n) => write!(out, ".{n}").unwrap(),
                Step::Index(i) => write!(out, "[{i}]").unwrap(),
            }
        }
        out
    }

    /// The path as `offsetof`'s member designator: `m1[0].m4`.
    pub fn designator(&self) -> String {
        self.suffix()[1..].to_string()
    }
}

/// A question both gcc and ffi-typed answer.
#[derive(Clone, Debug)]
pub enum Probe {
    /// `sizeof` of the object at the path (the top-level record for `[]`).
    Size(Path),
    /// `_Alignof` of the type of the object at the path.
    Align(Path),
    /// `offsetof` of the (non-bitfield) member at the path.
    Offset(Path),
    /// The bits a bitfield occupies: lowest bit, count, highest bit.
    Bits(Path),
    /// `sizeof(enum e{i})`.
    EnumSize(usize),
    /// Whether `enum e{i}`'s underlying type is signed.
    EnumSigned(usize),
    /// Which integer type `enum e{i}` is compatible with.
    EnumType(usize),
    /// The value of enumerator `j` of `enum e{i}`: checks the test's own
    /// model of implicit values, which ffi-typed is given.
    EnumValue(usize, usize),
}

impl Probe {
    pub fn describe(&self) -> String {
        match self {
            Probe::Size(p) if p.0.is_empty() => "sizeof(o)".into(),
            Probe::Size(p) => format!("sizeof(o{})", p.suffix()),
            Probe::Align(p) if p.0.is_empty() => "_Alignof(o)".into(),
            Probe::Align(p) => format!("_Alignof(o{})", p.suffix()),
            Probe::Offset(p) => format!("offsetof({})", p.designator()),
            Probe::Bits(p) => format!("bits of o{} (lowest, count, highest)", p.suffix()),
            Probe::EnumSize(i) => format!("sizeof(enum e{i})"),
            Probe::EnumSigned(i) => format!("enum e{i} is signed"),
            Probe::EnumType(i) => format!(
                "enum e{i}'s type (0 int, 1 unsigned, 2 long, 3 unsigned long, 4 long long, 5 unsigned long long)"
            ),
            Probe::EnumValue(i, j) => format!("value of enumerator {j} of enum e{i}"),
        }
    }
}

impl Case {
    /// Every probe of the case, in order. Names must have been assigned.
    pub fn probes(&self) -> Vec<Probe> {
        let mut out = Vec::new();
        for (i, e) in self.enums.iter().enumerate() {
            out.push(Probe::EnumSize(i));
            out.push(Probe::EnumSigned(i));
            out.push(Probe::EnumType(i));
            for j in 0..e.items.len() {
                out.push(Probe::EnumValue(i, j));
            }
        }
        out.push(Probe::Size(Path::default()));
        out.push(Probe::Align(Path::default()));
        record_probes(&self.top, &Path::default(), &mut out);
        out
    }
}

/// Probes of the object at `path` of type `ty`: its size, alignment and
/// offset, then what is inside (the first and last element of an array).
fn object_probes(ty: &Ty, path: &Path, out: &mut Vec<Probe>) {
    out.push(Probe::Offset(path.clone()));
    out.push(Probe::Size(path.clone()));
    out.push(Probe::Align(path.clone()));
    match ty {
        // (Not into a zero-length array: it has no elements to write.)
        Ty::Array(elem, n) if *n > 0 => {
            object_probes(elem, &path.with(Step::Index(0)), out);
            if *n > 1 {
                object_probes(elem, &path.with(Step::Index(n - 1)), out);
            }
        }
        Ty::Rec(r) => record_probes(r, path, out),
        _ => {}
    }
}

fn record_probes(rec: &Rec, path: &Path, out: &mut Vec<Probe>) {
    for m in &rec.members {
        match m {
            Member::Field { ty, name } => {
                object_probes(ty, &path.with(Step::Name(name.clone())), out)
            }
            Member::Flex { elem, name } => {
                // An incomplete array has no size; probe where it starts and
                // its first element.
                let p = path.with(Step::Name(name.clone()));
                out.push(Probe::Offset(p.clone()));
                object_probes(elem, &p.with(Step::Index(0)), out);
            }
            Member::Bits { name: Some(n), .. } => {
                out.push(Probe::Bits(path.with(Step::Name(n.clone()))))
            }
            Member::Bits { name: None, .. } => {}
            // Its members are members of the enclosing record in C.
            Member::Anon(r) => record_probes(r, path, out),
        }
    }
}

// ---- text form ----
//
// case   := enum (';' enum)* '|' rec
// enum   := item (',' item)*          item := '_' (implicit) | integer
// rec    := ('S' | 'U') ['m' (ms_struct)] pack '{' member (',' member)* '}'
// pack   := '' (natural) | 'p' (packed) | N (#pragma pack(N))
// member := ty | 'F' ty (flexible array of ty) | 'B' ity ':' width
//         | 'b' ity ':' width (unnamed) | 'A' rec (anonymous)
// ty     := scalar index in CScalar::ALL | '*' | 'e' index | '[' n ';' ty ']' | rec
// ity    := scalar index | 'e' index

impl Case {
    pub fn to_line(&self) -> String {
        let mut out = String::new();
        for (i, e) in self.enums.iter().enumerate() {
            if i > 0 {
                out.push(';');
            }
            for (j, item) in e.items.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                match item {
                    Some(v) => write!(out, "{v}").unwrap(),
                    None => out.push('_'),
                }
            }
        }
        out.push('|');
        self.top.write(&mut out);
        out
    }

    pub fn from_line(line: &str) -> Result<Case, String> {
        let (enums, rec) = line
            .trim()
            .split_once('|')
            .ok_or("a case is `enums|record`")?;
        let enums = enums
            .split(';')
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.split(',')
                    .map(|item| match item {
                        "_" => Ok(None),
                        v => v
                            .parse::<i128>()
                            .map(Some)
                            .map_err(|err| format!("enumerator {v:?}: {err}")),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|items| EnumDef { items })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut p = Parser {
            s: rec.as_bytes(),
            at: 0,
        };
        let top = p.rec()?;
        if p.at != p.s.len() {
            return Err(format!("trailing text at {}: {rec}", p.at));
        }
        let mut case = Case { enums, top };
        case.assign_names();
        Ok(case)
    }
}

fn scalar_index(s: CScalar) -> usize {
    CScalar::ALL.iter().position(|x| *x == s).expect("in ALL")
}

impl Rec {
    fn write(&self, out: &mut String) {
        out.push(if self.union { 'U' } else { 'S' });
        if self.ms {
            out.push('m');
        }
        match self.packing {
            Packing::Natural => {}
            Packing::Packed => out.push('p'),
            Packing::Pack(n) => write!(out, "{n}").unwrap(),
        }
        out.push('{');
        for (i, m) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match m {
                Member::Field { ty, .. } => ty.write(out),
                Member::Flex { elem, .. } => {
                    out.push('F');
                    elem.write(out);
                }
                Member::Bits { ty, width, name } => {
                    out.push(if name.is_some() { 'B' } else { 'b' });
                    match ty {
                        IntTy::Scalar(s) => write!(out, "{}", scalar_index(*s)).unwrap(),
                        IntTy::Enum(e) => write!(out, "e{e}").unwrap(),
                    }
                    write!(out, ":{width}").unwrap();
                }
                Member::Anon(r) => {
                    out.push('A');
                    r.write(out);
                }
            }
        }
        out.push('}');
    }
}

impl Ty {
    fn write(&self, out: &mut String) {
        match self {
            Ty::Scalar(s) => write!(out, "{}", scalar_index(*s)).unwrap(),
            Ty::Pointer => out.push('*'),
            Ty::Enum(e) => write!(out, "e{e}").unwrap(),
            Ty::Array(elem, n) => {
                write!(out, "[{n};").unwrap();
                elem.write(out);
                out.push(']');
            }
            Ty::Rec(r) => r.write(out),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!(
                "expected {:?} at {} of {:?}",
                c as char,
                self.at,
                String::from_utf8_lossy(self.s)
            ))
        }
    }

    fn number(&mut self) -> Result<usize, String> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        std::str::from_utf8(&self.s[start..self.at])
            .unwrap()
            .parse()
            .map_err(|_| format!("expected a number at {start}"))
    }

    fn scalar(&mut self) -> Result<CScalar, String> {
        let i = self.number()?;
        CScalar::ALL
            .get(i)
            .copied()
            .ok_or_else(|| format!("no scalar {i}"))
    }

    fn rec(&mut self) -> Result<Rec, String> {
        let union = match self.peek() {
            Some(b'S') => false,
            Some(b'U') => true,
            _ => return Err(format!("expected S or U at {}", self.at)),
        };
        self.at += 1;
        let ms = self.peek() == Some(b'm');
        if ms {
            self.at += 1;
        }
        let packing = match self.peek() {
            Some(b'p') => {
                self.at += 1;
                Packing::Packed
            }
            Some(c) if c.is_ascii_digit() => Packing::Pack(self.number()?),
            _ => Packing::Natural,
        };
        self.expect(b'{')?;
        let mut members = Vec::new();
        if self.peek() != Some(b'}') {
            loop {
                members.push(self.member()?);
                if self.peek() == Some(b',') {
                    self.at += 1;
                } else {
                    break;
                }
            }
        }
        self.expect(b'}')?;
        Ok(Rec {
            union,
            ms,
            packing,
            members,
            id: 0,
        })
    }

    fn member(&mut self) -> Result<Member, String> {
        Ok(match self.peek() {
            Some(b'F') => {
                self.at += 1;
                Member::Flex {
                    elem: self.ty()?,
                    name: String::new(),
                }
            }
            Some(c @ (b'B' | b'b')) => {
                self.at += 1;
                let ty = if self.peek() == Some(b'e') {
                    self.at += 1;
                    IntTy::Enum(self.number()?)
                } else {
                    IntTy::Scalar(self.scalar()?)
                };
                self.expect(b':')?;
                let width = self.number()? as u32;
                Member::Bits {
                    ty,
                    width,
                    name: (c == b'B').then(String::new),
                }
            }
            Some(b'A') => {
                self.at += 1;
                Member::Anon(self.rec()?)
            }
            _ => Member::Field {
                ty: self.ty()?,
                name: String::new(),
            },
        })
    }

    fn ty(&mut self) -> Result<Ty, String> {
        Ok(match self.peek() {
            Some(b'*') => {
                self.at += 1;
                Ty::Pointer
            }
            Some(b'e') => {
                self.at += 1;
                Ty::Enum(self.number()?)
            }
            Some(b'[') => {
                self.at += 1;
                let n = self.number()?;
                self.expect(b';')?;
                let elem = self.ty()?;
                self.expect(b']')?;
                Ty::Array(Box::new(elem), n)
            }
            Some(b'S' | b'U') => Ty::Rec(Box::new(self.rec()?)),
            _ => match self.scalar()? {
                CScalar::Pointer => Ty::Pointer,
                s => Ty::Scalar(s),
            },
        })
    }
}
