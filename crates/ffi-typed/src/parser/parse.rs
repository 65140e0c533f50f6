//! Recursive descent over the lexer's tokens: declarations, specifiers,
//! declarators, struct/union/enum bodies and `#define`s. Constant
//! expressions are in `expr.rs`.

use std::sync::Arc;

use ffi_raw::CScalar;

use super::entries::{Constant, ExternEntry, IntTy, Symbol, Ty, Val};
use super::expr::convert_to;
use super::lexer::{Kw, LexError, Lexer, P, Tok, Token};
use super::namespace::{Namespace, Pending};
use super::{
    ConstantKind, ExternPython, MAX_NESTING, MAX_TYPE_DEPTH, MAX_TYPE_PARTS, ParseError,
    ParseOptions, TagKind,
};
use crate::ctype::{CType, EnumType, FunctionType, RecordKind};
use crate::error::Error;
use crate::layout::{BitfieldRules, FieldDecl, Packing};
use crate::placeholder::Placeholder;

pub(crate) type PResult<T> = Result<T, ParseError>;

/// The namespace a parse declares into, or only reads (type names).
pub(crate) enum NsRef<'n> {
    Mut(&'n mut Namespace),
    Shared(&'n Namespace),
}

/// Where declaration specifiers appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ctx {
    Top,
    Member,
    Param,
    TypeName,
}

/// Whether a declarator must, may or must not name something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Named,
    Either,
    Abstract,
}

/// What the specifiers said about tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TagUse {
    /// No struct, union or enum specifier.
    None,
    /// `struct foo`, `struct foo { ... }`, `enum { ... }`.
    Declared,
    /// `struct { ... }` / `union { ... }`: an anonymous member if alone.
    AnonRecord,
}

struct Specs {
    base: Ty,
    typedef: bool,
    tag: TagUse,
    /// cffi's `typedef ... T;`, `typedef int... T;`, `typedef float... T;`:
    /// the placeholder after the specifiers, and where it is. `base` is
    /// then only a stand-in: each declarator gets a type of its own.
    dots: Option<(Dots, Token)>,
}

/// What `...` in a typedef's specifiers stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dots {
    /// `typedef ... T;`: an opaque struct.
    Opaque,
    /// `typedef int... T;` (integer keywords before the `...`).
    Integer,
    /// `typedef float... T;` or `double...`.
    Float,
}

/// One step of a declarator, applied to the type so far.
#[derive(Debug)]
pub(crate) enum Op {
    Pointer(Token),
    Array(Option<usize>, Token),
    /// `[...]`: cffi's array of a length only the compiler knows.
    PlaceholderArray(Token),
    Function {
        params: Vec<CType>,
        depth: u16,
        /// The parameters' parts, added up.
        parts: u32,
        variadic: bool,
        at: Token,
    },
}

/// Counts of the basic type specifiers seen.
#[derive(Default)]
struct Counts {
    void: u8,
    bool_: u8,
    char_: u8,
    short: u8,
    int: u8,
    long: u8,
    float: u8,
    double: u8,
    signed: u8,
    unsigned: u8,
}

impl Counts {
    fn any(&self) -> bool {
        self.void
            + self.bool_
            + self.char_
            + self.short
            + self.int
            + self.long
            + self.float
            + self.double
            + self.signed
            + self.unsigned
            > 0
    }

    /// Adds a specifier; an error if no valid combination contains them all.
    fn add(&mut self, kw: Kw, spelling: &str) -> Result<(), String> {
        let slot = slot_count(self, kw);
        *slot += 1;
        let count = *slot;
        if self.long > 2 {
            return Err("'long long long' is too long".into());
        }
        if kw != Kw::Long && count > 1 {
            return Err(format!("duplicate '{spelling}'"));
        }
        if self.signed > 0 && self.unsigned > 0 {
            return Err("both 'signed' and 'unsigned' in declaration specifiers".into());
        }
        // Each specifier present, with those it may be combined with.
        let sign = self.signed + self.unsigned > 0;
        let ok = if self.void + self.bool_ + self.float > 0 {
            self.void + self.bool_ + self.float == 1
                && !sign
                && self.char_ + self.short + self.int + self.long + self.double == 0
        } else if self.double > 0 {
            self.long <= 1 && !sign && self.char_ + self.short + self.int == 0
        } else if self.char_ > 0 {
            self.short + self.int + self.long == 0
        } else {
            !(self.short > 0 && self.long > 0)
        };
        if ok {
            Ok(())
        } else {
            Err("two or more data types in declaration specifiers".into())
        }
    }

    fn scalar(&self) -> Option<CType> {
        let u = self.unsigned > 0;
        let s = if self.void > 0 {
            return Some(CType::Void);
        } else if self.bool_ > 0 {
            CScalar::Bool
        } else if self.float > 0 {
            CScalar::Float
        } else if self.double > 0 {
            if self.long > 0 {
                CScalar::LongDouble
            } else {
                CScalar::Double
            }
        } else if self.char_ > 0 {
            if u {
                CScalar::UChar
            } else if self.signed > 0 {
                CScalar::SChar
            } else {
                CScalar::Char
            }
        } else if self.short > 0 {
            if u { CScalar::UShort } else { CScalar::Short }
        } else if self.long == 2 {
            if u {
                CScalar::ULongLong
            } else {
                CScalar::LongLong
            }
        } else if self.long == 1 {
            if u { CScalar::ULong } else { CScalar::Long }
        } else if self.int + self.signed + self.unsigned > 0 {
            if u { CScalar::UInt } else { CScalar::Int }
        } else {
            return None;
        };
        Some(CType::Scalar(s))
    }
}

fn slot_count(c: &mut Counts, kw: Kw) -> &mut u8 {
    match kw {
        Kw::Void => &mut c.void,
        Kw::Bool => &mut c.bool_,
        Kw::Char => &mut c.char_,
        Kw::Short => &mut c.short,
        Kw::Int => &mut c.int,
        Kw::Long => &mut c.long,
        Kw::Float => &mut c.float,
        Kw::Double => &mut c.double,
        Kw::Signed => &mut c.signed,
        _ => &mut c.unsigned,
    }
}

/// What an identifier in specifier position is.
enum Lookup {
    Type(Ty),
    NotType(&'static str),
    Unknown,
}

fn builtin_scalar(name: &str) -> Option<CScalar> {
    Some(match name {
        // `<stdbool.h>`'s name: predeclared like the fixed-width types, so
        // that a cdef may declare its own `bool` instead.
        "bool" => CScalar::Bool,
        "int8_t" => CScalar::Int8,
        "uint8_t" => CScalar::UInt8,
        "int16_t" => CScalar::Int16,
        "uint16_t" => CScalar::UInt16,
        "int32_t" => CScalar::Int32,
        "uint32_t" => CScalar::UInt32,
        "int64_t" => CScalar::Int64,
        "uint64_t" => CScalar::UInt64,
        "size_t" => CScalar::SizeT,
        "ssize_t" => CScalar::SSizeT,
        "intptr_t" => CScalar::IntPtr,
        "uintptr_t" => CScalar::UIntPtr,
        "ptrdiff_t" => CScalar::PtrDiff,
        "wchar_t" => CScalar::WChar,
        "char16_t" => CScalar::Char16,
        "char32_t" => CScalar::Char32,
        _ => return None,
    })
}

fn record_kind(kind: TagKind) -> RecordKind {
    match kind {
        TagKind::Union => RecordKind::Union,
        _ => RecordKind::Struct,
    }
}

fn same_body(a: &CType, b: &CType) -> bool {
    match (a, b) {
        (CType::Record(a), CType::Record(b)) => match (a.body(), b.body()) {
            (Some(x), Some(y)) => super::same::same_body(x, y),
            _ => false,
        },
        _ => false,
    }
}

/// Names of the members of an anonymous struct/union member, which C
/// makes members of the enclosing record.
fn anonymous_names<'a>(ty: &'a CType, index: usize, names: &mut Vec<(&'a str, usize)>) {
    if let CType::Record(r) = ty
        && let Some(body) = r.body()
    {
        for f in &body.fields {
            match &f.name {
                Some(n) => names.push((n, index)),
                None if f.bits.is_none() => anonymous_names(&f.ty, index, names),
                None => {}
            }
        }
    }
}

pub(crate) struct Parser<'s, 'n> {
    src: &'s str,
    lex: Lexer<'s>,
    lookahead: [Token; 2],
    buffered: usize,
    prev_end: u32,
    ns: NsRef<'n>,
    opts: ParseOptions,
    depth: u32,
    /// Inside an operand whose value is not used (`0 && x`, `1 ? a : b`):
    /// division by zero and overflow are not errors there.
    pub(crate) unevaluated: u32,
    scratch: Vec<Op>,
    /// Inside `extern "Python"` (a declaration or a block): how functions
    /// are declared there.
    extern_python: Option<ExternPython>,
    /// Whether the last declarator read had a `[...]` length of its own
    /// (not one from a typedef): a member declared so makes its record
    /// partial, as in cffi.
    declared_placeholder_length: bool,
}

impl<'s, 'n> Parser<'s, 'n> {
    pub(crate) fn new(src: &'s str, ns: NsRef<'n>, opts: ParseOptions) -> Parser<'s, 'n> {
        let eof = Token {
            kind: Tok::Eof,
            start: 0,
            end: 0,
        };
        Parser {
            src,
            lex: Lexer::new(src),
            lookahead: [eof; 2],
            buffered: 0,
            prev_end: 0,
            ns,
            opts,
            depth: 0,
            unevaluated: 0,
            scratch: Vec::new(),
            extern_python: None,
            declared_placeholder_length: false,
        }
    }

    // ---- tokens ----

    pub(crate) fn peek(&mut self) -> Token {
        if self.buffered == 0 {
            self.lookahead[0] = self.lex.next_token();
            self.buffered = 1;
        }
        self.lookahead[0]
    }

    pub(crate) fn peek2(&mut self) -> Token {
        self.peek();
        if self.buffered == 1 {
            self.lookahead[1] = self.lex.next_token();
            self.buffered = 2;
        }
        self.lookahead[1]
    }

    pub(crate) fn bump(&mut self) -> Token {
        let t = self.peek();
        self.lookahead[0] = self.lookahead[1];
        self.buffered -= 1;
        self.prev_end = t.end;
        t
    }

    pub(crate) fn text(&self, t: Token) -> &'s str {
        self.src.get(t.start as usize..t.end as usize).unwrap_or("")
    }

    fn is(&mut self, p: P) -> bool {
        self.peek().kind == Tok::P(p)
    }

    /// Consumes `p` or fails with `message` at whatever is there.
    pub(crate) fn expect(&mut self, p: P, message: &str) -> PResult<Token> {
        let t = self.peek();
        if t.kind == Tok::P(p) {
            Ok(self.bump())
        } else {
            Err(self.error(t, message))
        }
    }

    // ---- errors and limits ----

    /// An error at `t`. A token that is itself malformed reports what is
    /// wrong with it instead; the end of input is reported just after the
    /// last token.
    pub(crate) fn error(&self, t: Token, message: impl Into<String>) -> ParseError {
        let message = match t.kind {
            Tok::Invalid(e) => match e {
                LexError::UnterminatedComment => "unterminated comment".to_string(),
                LexError::UnterminatedChar => "missing terminating ' character".to_string(),
                LexError::UnterminatedString => "missing terminating \" character".to_string(),
                LexError::InvalidChar => match self.text(t).chars().next() {
                    Some(c) => format!("invalid character {c:?} in source"),
                    None => "invalid character in source".to_string(),
                },
            },
            Tok::Hash => {
                "preprocessor directives are only supported between declarations".to_string()
            }
            _ => message.into(),
        };
        let offset = if t.kind == Tok::Eof {
            self.prev_end
        } else {
            t.start
        };
        ParseError::at(self.src, offset as usize, message)
    }

    /// How a token is named in messages.
    pub(crate) fn describe(&self, t: Token) -> String {
        match t.kind {
            Tok::Eof => "end of input".into(),
            Tok::DirEnd => "end of line".into(),
            _ => format!("'{}'", self.text(t)),
        }
    }

    pub(crate) fn placeholder(&self, t: Token) -> ParseError {
        self.error(t, "cffi's '...' is not allowed here")
    }

    /// Enters one level of nesting, failing past [`MAX_NESTING`].
    pub(crate) fn enter(&mut self, t: Token) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            Err(self.error(
                t,
                format!("nesting too deep (more than {MAX_NESTING} levels)"),
            ))
        } else {
            Ok(())
        }
    }

    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }

    fn too_deep(&self, at: Token) -> ParseError {
        self.error(
            at,
            format!(
                "type nested too deeply (more than {MAX_TYPE_DEPTH} pointer, array and function levels)"
            ),
        )
    }

    /// `parts + more`, failing past [`MAX_TYPE_PARTS`].
    fn more_parts(&self, parts: u32, more: u32, at: Token) -> PResult<u32> {
        match parts.checked_add(more) {
            Some(total) if total <= MAX_TYPE_PARTS => Ok(total),
            _ => Err(self.error(
                at,
                format!(
                    "type too large (more than {MAX_TYPE_PARTS} pointer, array, function and base types, counting each use of a typedef)"
                ),
            )),
        }
    }

    fn deeper(&self, depth: u16, at: Token) -> PResult<u16> {
        if depth >= MAX_TYPE_DEPTH {
            Err(self.too_deep(at))
        } else {
            Ok(depth + 1)
        }
    }

    // ---- the namespace ----

    pub(crate) fn ns(&self) -> &Namespace {
        match &self.ns {
            NsRef::Mut(ns) => ns,
            NsRef::Shared(ns) => ns,
        }
    }

    fn ns_mut(&mut self) -> Option<&mut Namespace> {
        match &mut self.ns {
            NsRef::Mut(ns) => Some(ns),
            NsRef::Shared(_) => None,
        }
    }

    /// A struct or union made by this parse, owned by the namespace (see
    /// `ctype::release_cycles`).
    fn new_record(&mut self, kind: RecordKind, name: Option<&str>) -> CType {
        match self.ns_mut() {
            Some(ns) => ns.new_record(kind, name),
            // A type name's anonymous records (`struct { int a; } *`) go to
            // the caller: escaped from the start. Nothing can lead back to
            // an anonymous record, so they lie on no cycle.
            None => CType::new_record(kind, name),
        }
    }

    fn lookup_type(&self, name: &str) -> Lookup {
        match self.ns().ordinary.get(name) {
            Some(Symbol::Typedef(ty)) => Lookup::Type(ty.clone()),
            Some(other) => Lookup::NotType(other.kind_name()),
            None => match builtin_scalar(name) {
                Some(s) => Lookup::Type(Ty::base(CType::Scalar(s))),
                None if name == "FILE" => Lookup::Type(Ty::base(self.ns().file.clone())),
                None => Lookup::Unknown,
            },
        }
    }

    fn is_type_name(&self, name: &str) -> bool {
        match self.ns().ordinary.get(name) {
            Some(symbol) => matches!(symbol, Symbol::Typedef(_)),
            None => builtin_scalar(name).is_some() || name == "FILE",
        }
    }

    /// Whether `t` can begin a type name.
    pub(crate) fn starts_type(&self, t: Token) -> bool {
        match t.kind {
            Tok::Kw(kw) => !matches!(
                kw,
                Kw::Sizeof | Kw::Auto | Kw::Register | Kw::Typedef | Kw::Extern | Kw::Static
            ),
            Tok::Ident => self.is_type_name(self.text(t)),
            _ => false,
        }
    }

    /// Declares an ordinary identifier: new, the same again, replaced
    /// (override), or an error.
    pub(crate) fn define(&mut self, name_tok: Token, symbol: Symbol) -> PResult<()> {
        let name = self.text(name_tok);
        let allow_override = self.opts.allow_override;
        let Some(ns) = self.ns_mut() else {
            return Err(self.error(name_tok, "a type name cannot declare anything"));
        };
        let Some(index) = ns.ordinary.position(name) else {
            ns.push_ordinary(name, symbol);
            return Ok(());
        };
        let old = ns.ordinary.value(index);
        if old.same_as(&symbol) {
            return Ok(());
        }
        if allow_override {
            ns.replace_ordinary(index, symbol);
            return Ok(());
        }
        let message = if std::mem::discriminant(old) == std::mem::discriminant(&symbol) {
            format!("redefinition of '{name}'")
        } else {
            format!(
                "'{name}' redeclared as a different kind of symbol (it is a {})",
                old.kind_name()
            )
        };
        Err(self.redefinition(name_tok, message))
    }

    /// Declares a function `extern "Python"`: new, the same again, replaced
    /// (override), or an error.
    fn define_extern(
        &mut self,
        name_tok: Token,
        function: Arc<FunctionType>,
        kind: ExternPython,
    ) -> PResult<()> {
        let name = self.text(name_tok);
        let allow_override = self.opts.allow_override;
        let entry = ExternEntry { function, kind };
        let Some(ns) = self.ns_mut() else {
            return Err(self.error(name_tok, "a type name cannot declare anything"));
        };
        let Some(index) = ns.extern_python.position(name) else {
            ns.push_extern(name, entry);
            return Ok(());
        };
        if ns.extern_python.value(index).same_as(&entry) {
            return Ok(());
        }
        if allow_override {
            ns.replace_extern(index, entry);
            return Ok(());
        }
        Err(self.redefinition(
            name_tok,
            format!("redefinition of extern \"Python\" function '{name}'"),
        ))
    }

    fn not_in_extern_python(&self, name: Token) -> ParseError {
        self.error(
            name,
            format!(
                "'{}': only functions can be declared extern \"Python\" (not variables or \
                 constants)",
                self.text(name)
            ),
        )
    }

    /// An error for declaring `name_tok` again, differently.
    fn redefinition(&self, name_tok: Token, message: impl Into<String>) -> ParseError {
        ParseError {
            redefinition: true,
            ..self.error(name_tok, message)
        }
    }

    // ---- top level ----

    /// The whole source as declarations.
    pub(crate) fn declarations(mut self) -> PResult<()> {
        if self.src.len() >= u32::MAX as usize {
            return Err(ParseError::at(
                self.src,
                0,
                "the source is too large (4 GiB or more)".into(),
            ));
        }
        loop {
            let t = self.peek();
            match t.kind {
                Tok::Eof => return Ok(()),
                Tok::Hash => self.directive()?,
                Tok::P(P::Semi) => {
                    self.bump();
                }
                Tok::Kw(Kw::Extern) if self.peek2().kind == Tok::Str => self.extern_python()?,
                _ => self.declaration()?,
            }
        }
    }

    /// cffi's `extern "Python"` (or `"Python+C"`, `"C+Python"`) before one
    /// declaration or a block of them: the functions declared there are
    /// implemented in Python, and named apart from the ordinary ones.
    fn extern_python(&mut self) -> PResult<()> {
        self.bump(); // 'extern'
        let linkage = self.bump();
        let text = self.text(linkage);
        let spelled: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let kind = match spelled.as_str() {
            "\"Python\"" => ExternPython::Python,
            "\"Python+C\"" | "\"C+Python\"" => ExternPython::PythonPlusC,
            _ => {
                return Err(self.error(
                    linkage,
                    format!(
                        "unsupported language linkage 'extern {text}' (only extern \"Python\" \
                         and extern \"Python+C\" are supported)"
                    ),
                ));
            }
        };
        self.extern_python = Some(kind);
        let result = if self.is(P::LBrace) {
            self.extern_python_block()
        } else {
            self.declaration()
        };
        self.extern_python = None;
        result
    }

    /// `{ declarations }` after `extern "Python"`.
    fn extern_python_block(&mut self) -> PResult<()> {
        let lbrace = self.bump();
        self.enter(lbrace)?;
        loop {
            let t = self.peek();
            match t.kind {
                Tok::P(P::RBrace) => {
                    self.bump();
                    break;
                }
                Tok::Eof => {
                    return Err(
                        self.error(t, "expected '}' at the end of the extern \"Python\" block")
                    );
                }
                Tok::Hash => self.directive()?,
                Tok::P(P::Semi) => {
                    self.bump();
                }
                Tok::Kw(Kw::Extern) if self.peek2().kind == Tok::Str => {
                    return Err(self.error(t, "extern \"Python\" blocks cannot be nested"));
                }
                _ => self.declaration()?,
            }
        }
        self.leave();
        Ok(())
    }

    /// The whole source as one type name.
    pub(crate) fn type_name(mut self) -> PResult<CType> {
        if self.src.len() >= u32::MAX as usize {
            return Err(ParseError::at(
                self.src,
                0,
                "the type name is too large".into(),
            ));
        }
        // Read as a parameter declaration (as cffi does): a name may
        // appear (`void f(int)`, `int x`) and is ignored.
        let specs = self.specifiers(Ctx::TypeName)?;
        let (_, ty) = self.declarator_type(&specs.base, Mode::Either)?;
        let t = self.peek();
        if t.kind != Tok::Eof {
            return Err(self.error(
                t,
                format!("unexpected {} after the type name", self.describe(t)),
            ));
        }
        Ok(ty.ty)
    }

    /// A type name: specifiers and an abstract declarator.
    pub(crate) fn abstract_type(&mut self) -> PResult<Ty> {
        let specs = self.specifiers(Ctx::TypeName)?;
        let (_, ty) = self.declarator_type(&specs.base, Mode::Abstract)?;
        Ok(ty)
    }

    fn directive(&mut self) -> PResult<()> {
        self.bump(); // '#'
        let t = self.bump();
        match t.kind {
            Tok::DirEnd => return Ok(()), // the null directive
            Tok::Ident if self.text(t) == "define" => {}
            Tok::Ident | Tok::Kw(_) => {
                return Err(self.error(
                    t,
                    format!(
                        "unsupported preprocessor directive '#{}' (only #define is supported)",
                        self.text(t)
                    ),
                ));
            }
            _ => return Err(self.error(t, "expected a preprocessor directive")),
        }
        let name = self.bump();
        if name.kind != Tok::Ident {
            return Err(self.error(name, "expected a macro name after '#define'"));
        }
        let next = self.peek();
        if next.kind == Tok::P(P::LParen) && next.start == name.end {
            return Err(self.error(next, "function-like macros are not supported"));
        }
        if next.kind == Tok::DirEnd {
            return Err(self.error(
                next,
                format!(
                    "macro '{}' has no value (only integer constant macros are supported)",
                    self.text(name)
                ),
            ));
        }
        if next.kind == Tok::P(P::Ellipsis) {
            // cffi's `#define NAME ...`: a value only the compiler knows.
            self.bump();
            let end = self.peek();
            if end.kind != Tok::DirEnd {
                return Err(self.error(
                    end,
                    format!(
                        "unexpected {} after '...' in macro '{}' ('#define NAME ...' leaves \
                         the whole value to the C compiler)",
                        self.describe(end),
                        self.text(name)
                    ),
                ));
            }
            self.bump();
            return self.define(name, Symbol::UnknownConstant);
        }
        let value = self.const_expr()?;
        let end = self.peek();
        if end.kind != Tok::DirEnd {
            return Err(self.error(
                end,
                format!(
                    "unexpected {} in the value of macro '{}' (only an integer constant expression is supported)",
                    self.describe(end),
                    self.text(name)
                ),
            ));
        }
        self.bump();
        self.define(
            name,
            Symbol::Constant(Constant {
                value,
                kind: ConstantKind::Define,
            }),
        )
    }

    fn declaration(&mut self) -> PResult<()> {
        let specs = self.specifiers(Ctx::Top)?;
        if let Some((dots, at)) = specs.dots {
            return self.placeholder_typedefs(dots, at, specs.typedef);
        }
        let t = self.peek();
        if t.kind == Tok::P(P::Semi) {
            self.bump();
            return match specs.tag {
                TagUse::None if specs.typedef => Err(self.error(t, "typedef declares no name")),
                TagUse::None => Err(self.error(t, "declaration does not declare anything")),
                _ => Ok(()),
            };
        }
        loop {
            let start = self.peek();
            let (name, ty) = self.object_declarator_type(&specs.base)?;
            let Some(name) = name else {
                return Err(self.error(start, "expected identifier or '('"));
            };
            let next = self.peek();
            match next.kind {
                Tok::P(P::Assign) => self.initialized(name, ty, specs.typedef)?,
                Tok::P(P::LBrace) if matches!(ty.ty, CType::Function(_)) => {
                    return Err(self.error(next, "function definitions are not supported"));
                }
                _ => self.declare(name, ty, specs.typedef)?,
            }
            if !self.more_declarators()? {
                return Ok(());
            }
        }
    }

    /// After a declarator: `,` (another follows: true) or `;` (the
    /// declaration ends: false), consumed; anything else is an error.
    fn more_declarators(&mut self) -> PResult<bool> {
        let sep = self.peek();
        match sep.kind {
            Tok::P(P::Comma) | Tok::P(P::Semi) => {
                self.bump();
                Ok(sep.kind == Tok::P(P::Comma))
            }
            _ => Err(self.error(sep, "expected ';' after declaration")),
        }
    }

    /// The declarators of `typedef ...`, `typedef int...` or `typedef
    /// float...` (`dots`, at `at`): each a name (`typedef ... *T;`, a
    /// pointer to an opaque struct, too), declared a type of its own.
    fn placeholder_typedefs(&mut self, dots: Dots, at: Token, typedef: bool) -> PResult<()> {
        if !typedef {
            return Err(self.error(
                at,
                "cffi's '...' as a type is only allowed in a typedef ('typedef ... T;', \
                 'typedef int... T;', 'typedef float... T;')",
            ));
        }
        loop {
            let star = self.is(P::Star).then(|| self.bump());
            if let Some(star) = star
                && dots != Dots::Opaque
            {
                return Err(self.error(
                    star,
                    "'typedef int... T' declares an integer type, not a pointer",
                ));
            }
            let name = self.peek();
            if name.kind != Tok::Ident {
                return Err(self.error(name, "expected the typedef's name after '...'"));
            }
            self.bump();
            let spelled = self.text(name);
            let ty = match dots {
                Dots::Opaque => {
                    // An anonymous struct, spelt as cffi spells it: by the
                    // typedef's name, or `struct $$T` behind `T`'s pointer.
                    let record = self.new_record(RecordKind::Struct, None);
                    match star {
                        None => {
                            record.name_anonymous(spelled);
                            Ty::base(record)
                        }
                        Some(star) => {
                            record.name_anonymous(&format!("struct $${spelled}"));
                            self.pointer_to(Ty::base(record), star)?
                        }
                    }
                }
                Dots::Integer => Ty::base(CType::Placeholder(Arc::new(Placeholder::Integer(
                    spelled.to_string(),
                )))),
                Dots::Float => Ty::base(CType::Placeholder(Arc::new(Placeholder::Float(
                    spelled.to_string(),
                )))),
            };
            self.define(name, Symbol::Typedef(ty))?;
            if !self.more_declarators()? {
                return Ok(());
            }
        }
    }

    fn declare(&mut self, name: Token, ty: Ty, typedef: bool) -> PResult<()> {
        let symbol = if typedef {
            ty.ty.name_anonymous(self.text(name));
            Symbol::Typedef(ty)
        } else if let CType::Function(f) = &ty.ty {
            if let Some(kind) = self.extern_python {
                return self.define_extern(name, f.clone(), kind);
            }
            Symbol::Function(f.clone())
        } else if self.extern_python.is_some() {
            return Err(self.not_in_extern_python(name));
        } else if ty.ty == CType::Void {
            return Err(self.error(
                name,
                format!("variable '{}' declared void", self.text(name)),
            ));
        } else {
            Symbol::Variable(ty)
        };
        self.define(name, symbol)
    }

    /// `name = initializer`, as cffi reads it: a declaration of an integer
    /// type (not a character type) declares an integer constant, the
    /// initializer (an integer constant expression) converted to the type
    /// (`static const int N = 42;`); one of any other type declares a
    /// constant whose value is left to the C source (the initializer is
    /// skipped). Neither is a variable: such objects are the header's
    /// own (`static`), not the library's.
    fn initialized(&mut self, name: Token, ty: Ty, typedef: bool) -> PResult<()> {
        let assign = self.peek();
        let spelled = self.text(name);
        if typedef {
            return Err(self.error(assign, format!("typedef '{spelled}' is initialized")));
        }
        if let CType::Function(_) = ty.ty {
            return Err(self.error(
                assign,
                format!("function '{spelled}' is initialized like a variable"),
            ));
        }
        if self.extern_python.is_some() {
            return Err(self.not_in_extern_python(name));
        }
        self.bump();
        let integer = match &ty.ty {
            CType::Scalar(CScalar::Char | CScalar::WChar | CScalar::Char16 | CScalar::Char32) => {
                false
            }
            other => other.is_integer(),
        };
        let symbol = if integer {
            let value = self.const_expr()?;
            Symbol::Constant(Constant {
                value: convert_to(&ty.ty, value).expect("an integer type"),
                kind: ConstantKind::Initializer,
            })
        } else {
            self.skip_initializer()?;
            Symbol::OpaqueConstant(ty)
        };
        self.define(name, symbol)
    }

    /// Skips an initializer whose value is not needed, up to the `,` or `;`
    /// after it, with brackets balanced.
    fn skip_initializer(&mut self) -> PResult<()> {
        let mut depth = 0u32;
        let mut empty = true;
        loop {
            let t = self.peek();
            match t.kind {
                Tok::P(P::Comma | P::Semi) if depth == 0 => {
                    return if empty {
                        Err(self.error(t, "expected an initializer"))
                    } else {
                        Ok(())
                    };
                }
                Tok::P(P::LParen | P::LBracket | P::LBrace) => depth += 1,
                Tok::P(P::RParen | P::RBracket | P::RBrace) if depth > 0 => depth -= 1,
                Tok::P(P::RParen | P::RBracket | P::RBrace | P::Semi)
                | Tok::Eof
                | Tok::Hash
                | Tok::DirEnd
                | Tok::Invalid(_) => {
                    return Err(self.error(
                        t,
                        format!("unexpected {} in the initializer", self.describe(t)),
                    ));
                }
                _ => {}
            }
            self.bump();
            empty = false;
        }
    }

    // ---- specifiers ----

    fn specifiers(&mut self, ctx: Ctx) -> PResult<Specs> {
        let mut counts = Counts::default();
        let mut base: Option<Ty> = None;
        let mut tag = TagUse::None;
        let mut typedef = false;
        let mut consumed = false;
        let mut dots = None;
        loop {
            let t = self.peek();
            match t.kind {
                // cffi's `typedef ... T;` and `typedef int... T;`: the
                // placeholder ends the specifiers.
                Tok::P(P::Ellipsis) if ctx == Ctx::Top && base.is_none() => {
                    let kind = if !counts.any() {
                        Dots::Opaque
                    } else if counts.float + counts.double > 0 && counts.long == 0 {
                        Dots::Float
                    } else if counts.void + counts.bool_ + counts.float + counts.double == 0 {
                        Dots::Integer
                    } else {
                        return Err(self.error(
                            t,
                            "'...' after a type: only integer types ('int...') and 'float...' \
                             or 'double...' are allowed",
                        ));
                    };
                    self.bump();
                    dots = Some((kind, t));
                    break;
                }
                Tok::Kw(kw) => {
                    match kw {
                        Kw::Const | Kw::Volatile | Kw::Restrict | Kw::CallingConvention => {}
                        Kw::Typedef | Kw::Extern | Kw::Static | Kw::Inline => {
                            if ctx != Ctx::Top {
                                return Err(self
                                    .error(t, format!("'{}' is not allowed here", self.text(t))));
                            }
                            if kw == Kw::Typedef {
                                if typedef {
                                    return Err(self.error(t, "duplicate 'typedef'"));
                                }
                                typedef = true;
                            }
                        }
                        Kw::Struct | Kw::Union | Kw::Enum => {
                            if base.is_some() || counts.any() {
                                return Err(self
                                    .error(t, "two or more data types in declaration specifiers"));
                            }
                            let (ty, used) = self.tagged(kw)?;
                            base = Some(ty);
                            tag = used;
                            consumed = true;
                            continue;
                        }
                        Kw::Complex => {
                            return Err(self.error(t, "complex types are not supported"));
                        }
                        Kw::Sizeof | Kw::Auto | Kw::Register => break,
                        basic => {
                            if base.is_some() {
                                return Err(self
                                    .error(t, "two or more data types in declaration specifiers"));
                            }
                            let spelling = self.text(t);
                            if let Err(message) = counts.add(basic, spelling) {
                                return Err(self.error(t, message));
                            }
                        }
                    }
                }
                Tok::Ident => {
                    if base.is_some() || counts.any() {
                        break; // the declarator's name
                    }
                    let name = self.text(t);
                    match self.lookup_type(name) {
                        Lookup::Type(ty) => base = Some(ty),
                        Lookup::NotType(kind) => {
                            return Err(self.error(t, format!("'{name}' is a {kind}, not a type")));
                        }
                        Lookup::Unknown => {
                            return Err(self.error(t, format!("unknown type name '{name}'")));
                        }
                    }
                }
                _ => break,
            }
            self.bump();
            consumed = true;
        }
        let base = match base {
            Some(base) => base,
            // A stand-in: each declarator gets a type of its own.
            None if dots.is_some() => Ty::base(CType::Void),
            None => match counts.scalar() {
                Some(ty) => Ty::base(ty),
                None => {
                    let t = self.peek();
                    let message = if consumed {
                        "expected a type name"
                    } else {
                        match ctx {
                            Ctx::Top => "expected a declaration",
                            Ctx::Member => "expected a member declaration",
                            Ctx::Param => "expected a parameter declaration",
                            Ctx::TypeName => "expected a type name",
                        }
                    };
                    return Err(self.error(t, message));
                }
            },
        };
        Ok(Specs {
            base,
            typedef,
            tag,
            dots,
        })
    }

    /// `struct`/`union`/`enum`, then a tag, a body or both.
    fn tagged(&mut self, kw: Kw) -> PResult<(Ty, TagUse)> {
        let kw_tok = self.bump();
        let kind = match kw {
            Kw::Struct => TagKind::Struct,
            Kw::Union => TagKind::Union,
            _ => TagKind::Enum,
        };
        let name = if self.peek().kind == Tok::Ident {
            Some(self.bump())
        } else {
            None
        };
        let next = self.peek();
        if next.kind == Tok::P(P::LBrace) {
            let ty = match kind {
                TagKind::Enum => self.enum_body(kw_tok, name)?,
                _ => self.record_body(kind, kw_tok, name)?,
            };
            let used = if name.is_none() && kind != TagKind::Enum {
                TagUse::AnonRecord
            } else {
                TagUse::Declared
            };
            return Ok((Ty::base(ty), used));
        }
        let Some(name) = name else {
            return Err(self.error(
                next,
                format!("expected a name or '{{' after '{}'", kind.keyword()),
            ));
        };
        Ok((Ty::base(self.tag_reference(kind, name)?), TagUse::Declared))
    }

    /// `struct foo` without a body: the declared one, or a new opaque one.
    fn tag_reference(&mut self, kind: TagKind, name_tok: Token) -> PResult<CType> {
        let name = self.text(name_tok);
        if let Some(entry) = self.ns().tags.get(&(kind, name)) {
            return Ok(entry.ty.clone());
        }
        // `enum foo;`, or a mention of an enum not declared yet: an enum
        // without enumerators, which cffi takes for `unsigned int` (with a
        // warning when the type is used: `EnumType::is_opaque`).
        let opaque_enum = || {
            CType::Enum(Arc::new(
                EnumType::new(Some(name), Vec::new())
                    .expect("an enum without values is unsigned int"),
            ))
        };
        match self.ns_mut() {
            Some(ns) => {
                let ty = match kind {
                    TagKind::Enum => opaque_enum(),
                    _ => ns.new_record(record_kind(kind), Some(name)),
                };
                ns.push_tag(kind, name, ty.clone());
                Ok(ty)
            }
            // A type name mentioning an undeclared tag gets an opaque record
            // or enum of that name (as in C, and as cffi does), the same one
            // each time; it is not declared. Named records and enums compare
            // by kind and name, so it equals the one a later declaration
            // makes.
            None => {
                let key = (kind, Box::<str>::from(name));
                let mut undeclared = self
                    .ns()
                    .undeclared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                Ok(undeclared
                    .entry(key)
                    .or_insert_with(|| match kind {
                        TagKind::Enum => opaque_enum(),
                        _ => CType::new_record(record_kind(kind), Some(name)),
                    })
                    .clone())
            }
        }
    }

    fn record_body(
        &mut self,
        kind: TagKind,
        kw_tok: Token,
        name_tok: Option<Token>,
    ) -> PResult<CType> {
        // A type name may define an anonymous record (`struct { int a; } *`,
        // as cffi allows): it declares nothing, so each parse makes its own.
        if let Some(name_tok) = name_tok
            && self.ns_mut().is_none()
        {
            return Err(self.error(
                name_tok,
                format!(
                    "a type name cannot declare '{} {}'",
                    kind.keyword(),
                    self.text(name_tok)
                ),
            ));
        }
        let rk = record_kind(kind);
        let name = name_tok.map(|t| self.text(t));
        let allow_override = self.opts.allow_override;
        let generation = self.ns().generation;

        /// What the body completes.
        enum Target {
            /// A record created (or declared opaque) by this parse.
            Fresh,
            /// A stand-in for one declared opaque by an earlier parse.
            StandIn(u32, super::entries::TagEntry),
            /// A complete one: the body must be the same again.
            Compare,
        }
        let (ty, target) = match (name, name_tok) {
            (Some(name), Some(_)) => match self.ns().tags.position(&(kind, name)) {
                None => {
                    let ty = self.new_record(rk, Some(name));
                    if let Some(ns) = self.ns_mut() {
                        ns.push_tag(kind, name, ty.clone());
                    }
                    (ty, Target::Fresh)
                }
                Some(index) => {
                    let entry = self.ns().tags.value(index).clone();
                    let complete = matches!(&entry.ty, CType::Record(r) if r.body().is_some());
                    if !complete && entry.generation == generation {
                        (entry.ty, Target::Fresh)
                    } else if !complete || allow_override {
                        let ty = self.new_record(rk, Some(name));
                        if let Some(ns) = self.ns_mut() {
                            ns.replace_tag(index, ty.clone());
                        }
                        if complete {
                            (ty, Target::Fresh)
                        } else {
                            (ty, Target::StandIn(index, entry))
                        }
                    } else {
                        (entry.ty, Target::Compare)
                    }
                }
            },
            _ => (self.new_record(rk, None), Target::Fresh),
        };

        let lbrace = self.bump();
        self.enter(lbrace)?;
        let (fields, partial) = self.members(kind)?;
        self.bump(); // '}'
        self.leave();

        let packing = self.opts.packing;
        let at = name_tok.unwrap_or(kw_tok);
        self.not_too_large(&fields, kind, name, at)?;
        let complete = |ty: &CType, fields: Vec<FieldDecl>, packing: Packing| {
            if partial {
                ty.complete_partial(fields, packing)
            } else {
                ty.complete(fields, packing)
            }
        };
        match target {
            Target::Fresh => {
                complete(&ty, fields, packing).map_err(|e| self.error(at, e.to_string()))?
            }
            // A partial definition replaces the opaque record for what is
            // declared from now on, but does not complete the one types
            // made before hold: they may be in use as opaque pointers,
            // whose members must not appear without a layout.
            Target::StandIn(..) if partial => {
                complete(&ty, fields, packing).map_err(|e| self.error(at, e.to_string()))?
            }
            Target::StandIn(tag_index, original) => {
                ty.complete(fields.clone(), packing)
                    .map_err(|e| self.error(at, e.to_string()))?;
                if let Some(ns) = self.ns_mut() {
                    ns.pending.push(Pending {
                        tag_index,
                        original,
                        stand_in: ty.clone(),
                        fields,
                        packing,
                    });
                }
            }
            Target::Compare => {
                let probe = self.new_record(rk, name);
                complete(&probe, fields, packing).map_err(|e| self.error(at, e.to_string()))?;
                if !same_body(&ty, &probe) {
                    return Err(self.redefinition(
                        at,
                        format!(
                            "redefinition of '{} {}'",
                            kind.keyword(),
                            name.unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        Ok(ty)
    }

    /// The members of a struct or union, up to (not including) its `}`,
    /// and whether the record is partial as cffi has it: it has cffi's
    /// `...;` among them (more members, a layout only the compiler knows),
    /// or a member declared with a `[...]` length.
    fn members(&mut self, kind: TagKind) -> PResult<(Vec<FieldDecl>, bool)> {
        let mut fields: Vec<FieldDecl> = Vec::new();
        // Where each member was declared, for errors.
        let mut places: Vec<Token> = Vec::new();
        let mut flexible: Option<Token> = None;
        let mut partial = false;
        loop {
            let t = self.peek();
            match t.kind {
                Tok::P(P::RBrace) => break,
                Tok::P(P::Semi) => {
                    self.bump();
                    continue;
                }
                Tok::P(P::Ellipsis) => {
                    self.bump();
                    self.expect(P::Semi, "expected ';' after '...' in a struct or union")?;
                    partial = true;
                    continue;
                }
                Tok::Eof => {
                    return Err(self.error(
                        t,
                        format!("expected '}}' at the end of the {}", kind.keyword()),
                    ));
                }
                _ => {}
            }
            let specs = self.specifiers(Ctx::Member)?;
            if self.is(P::Semi) {
                let semi = self.bump();
                match specs.tag {
                    TagUse::AnonRecord => {
                        self.not_after_flexible(flexible)?;
                        places.push(t);
                        fields.push(FieldDecl {
                            name: None,
                            ty: specs.base.ty,
                            bit_width: None,
                        });
                    }
                    TagUse::Declared => {} // a nested tag declaration
                    TagUse::None => {
                        return Err(self.error(semi, "declaration does not declare anything"));
                    }
                }
                continue;
            }
            loop {
                self.not_after_flexible(flexible)?;
                let start = self.peek();
                let (name, ty) = if start.kind == Tok::P(P::Colon) {
                    (None, specs.base.clone())
                } else {
                    let declared = self.object_declarator_type(&specs.base)?;
                    partial |= self.declared_placeholder_length;
                    declared
                };
                let width = if self.is(P::Colon) {
                    self.bump();
                    Some(self.bit_width()?)
                } else {
                    None
                };
                let at = name.unwrap_or(start);
                self.check_member(kind, name, &ty.ty, width, at)?;
                if width.is_none() && matches!(ty.ty, CType::Array(_, None)) {
                    flexible = Some(at);
                }
                places.push(at);
                fields.push(FieldDecl {
                    name: name.map(|n| self.text(n).to_string()),
                    ty: ty.ty,
                    bit_width: width,
                });
                let sep = self.peek();
                match sep.kind {
                    Tok::P(P::Comma) => {
                        self.bump();
                    }
                    Tok::P(P::Semi) => {
                        self.bump();
                        break;
                    }
                    _ => return Err(self.error(sep, "expected ';' after member declaration")),
                }
            }
        }
        self.no_duplicate_members(&fields, &places)?;
        Ok((fields, partial))
    }

    /// Refuses records that could be 2^60 bytes or more: beyond any real
    /// object, and the layout computes positions in bits as `u64`.
    fn not_too_large(
        &self,
        fields: &[FieldDecl],
        kind: TagKind,
        name: Option<&str>,
        at: Token,
    ) -> PResult<()> {
        let mut total: u128 = 0;
        for f in fields {
            let size = match f.ty {
                CType::Array(_, None) => 0,
                _ => f.ty.size().unwrap_or(0),
            };
            total += size as u128 + f.ty.align().unwrap_or(1) as u128;
        }
        if total >= 1 << 60 {
            return Err(self.error(
                at,
                format!(
                    "{} {} is too large",
                    kind.keyword(),
                    name.unwrap_or("$anonymous")
                ),
            ));
        }
        Ok(())
    }

    fn not_after_flexible(&self, flexible: Option<Token>) -> PResult<()> {
        match flexible {
            Some(f) => Err(self.error(
                f,
                format!(
                    "flexible array member '{}' not at end of struct",
                    self.text(f)
                ),
            )),
            None => Ok(()),
        }
    }

    fn bit_width(&mut self) -> PResult<u32> {
        let t = self.peek();
        let v = self.const_expr()?;
        u32::try_from(v.v)
            .map_err(|_| self.error(t, "bit-field width must be a non-negative integer constant"))
    }

    fn check_member(
        &self,
        kind: TagKind,
        name: Option<Token>,
        ty: &CType,
        width: Option<u32>,
        at: Token,
    ) -> PResult<()> {
        let what = match name {
            Some(n) => format!("'{}'", self.text(n)),
            None => "(unnamed)".to_string(),
        };
        if let CType::Function(_) = ty {
            return Err(self.error(at, format!("field {what} declared as a function")));
        }
        if let Some(width) = width {
            if !ty.is_integer() {
                return Err(self.error(at, format!("bit-field {what} has invalid type '{ty}'")));
            }
            let bits = match (ty, ty.size()) {
                (CType::Scalar(CScalar::Bool), _) => u64::from(BitfieldRules::HOST.bool_width),
                (_, Ok(size)) => size as u64 * 8,
                // `int...`: only the compiler knows how wide it is.
                (_, Err(_)) => u64::MAX,
            };
            if width as u64 > bits {
                return Err(self.error(
                    at,
                    format!(
                        "width of bit-field {what} ({width} bits) exceeds its type ({bits} bits)"
                    ),
                ));
            }
            if width == 0 && name.is_some() {
                return Err(self.error(at, format!("zero width for bit-field {what}")));
            }
            return Ok(());
        }
        if let CType::Array(_, None) = ty {
            if kind == TagKind::Union {
                return Err(self.error(at, format!("flexible array member {what} in a union")));
            }
            return Ok(());
        }
        if let Err(e) = ty.size()
            && !matches!(e, Error::Missing(_))
        {
            return Err(self.error(at, format!("field {what} has incomplete type '{ty}'")));
        }
        Ok(())
    }

    fn no_duplicate_members(&self, fields: &[FieldDecl], places: &[Token]) -> PResult<()> {
        if fields.len() < 2 {
            return Ok(());
        }
        let mut names: Vec<(&str, usize)> = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            match &f.name {
                Some(n) => names.push((n, i)),
                None if f.bit_width.is_none() => anonymous_names(&f.ty, i, &mut names),
                None => {}
            }
        }
        names.sort_unstable();
        for pair in names.windows(2) {
            if pair[0].0 == pair[1].0 {
                let later = pair[0].1.max(pair[1].1);
                return Err(self.error(places[later], format!("duplicate member '{}'", pair[0].0)));
            }
        }
        Ok(())
    }

    fn enum_body(&mut self, kw_tok: Token, name_tok: Option<Token>) -> PResult<CType> {
        if self.ns_mut().is_none() {
            return Err(self.error(kw_tok, "a type name cannot define an enum"));
        }
        let lbrace = self.bump();
        self.enter(lbrace)?;
        let mut values: Vec<(String, i128)> = Vec::new();
        let mut enumerators: Vec<Token> = Vec::new();
        let mut prev: Option<i128> = None;
        let mut partial = false;
        loop {
            let t = self.peek();
            match t.kind {
                Tok::P(P::RBrace) if !values.is_empty() => {
                    self.bump();
                    break;
                }
                Tok::Ident => {}
                // cffi's `enum foo { A, ... };`: more enumerators, which
                // only the compiler knows. Only last, as cffi has it.
                Tok::P(P::Ellipsis) => {
                    self.bump();
                    self.expect(P::RBrace, "expected '}' after '...' in an enum")?;
                    partial = true;
                    break;
                }
                _ => return Err(self.error(t, "expected an enumerator name")),
            }
            self.bump();
            let value = if self.is(P::Assign) {
                self.bump();
                self.const_expr()?.v
            } else {
                match prev {
                    None => 0,
                    Some(p) if p >= u64::MAX as i128 => {
                        return Err(self.error(t, "enumerator value overflows"));
                    }
                    Some(p) => p + 1,
                }
            };
            // Declared at once, as later enumerators may use it; whether
            // the enum is partial is known only at its end.
            self.define(
                t,
                Symbol::Constant(Constant {
                    value: Val {
                        v: value,
                        ty: IntTy::for_value(value),
                    },
                    kind: ConstantKind::Enumerator,
                }),
            )?;
            enumerators.push(t);
            values.push((self.text(t).to_string(), value));
            prev = Some(value);
            let sep = self.peek();
            match sep.kind {
                Tok::P(P::Comma) => {
                    self.bump();
                }
                Tok::P(P::RBrace) => {
                    self.bump();
                    break;
                }
                _ => return Err(self.error(sep, "expected ',' or '}' after enumerator")),
            }
        }
        self.leave();
        let name = name_tok.map(|t| self.text(t));
        let at = name_tok.unwrap_or(kw_tok);
        let mut made = EnumType::new(name, values).map_err(|e| self.error(at, e.to_string()))?;
        made.partial = partial;
        let ty = self.declare_enum(name_tok, CType::Enum(Arc::new(made)))?;
        let src = self.src;
        if partial && let Some(ns) = self.ns_mut() {
            for t in enumerators {
                let name = &src[t.start as usize..t.end as usize];
                let index = ns.ordinary.position(name).expect("declared above");
                if let Symbol::Constant(c) = ns.ordinary.value(index)
                    && c.kind == ConstantKind::Enumerator
                {
                    let symbol = Symbol::Constant(Constant {
                        kind: ConstantKind::PartialEnumerator,
                        ..*c
                    });
                    ns.replace_ordinary(index, symbol);
                }
            }
        }
        Ok(ty)
    }

    /// Declares an enum's tag, if it has one: new, the same again,
    /// replaced (override), or an error. Returns the enum that holds the tag.
    fn declare_enum(&mut self, name_tok: Option<Token>, ty: CType) -> PResult<CType> {
        let Some(name_tok) = name_tok else {
            return Ok(ty);
        };
        let name = self.text(name_tok);
        let allow_override = self.opts.allow_override;
        let Some(index) = self.ns().tags.position(&(TagKind::Enum, name)) else {
            if let Some(ns) = self.ns_mut() {
                ns.push_tag(TagKind::Enum, name, ty.clone());
            }
            return Ok(ty);
        };
        let old = self.ns().tags.value(index).ty.clone();
        let (CType::Enum(old_enum), CType::Enum(new_enum)) = (&old, &ty) else {
            unreachable!("the enum tags hold enums");
        };
        if old_enum.values == new_enum.values && old_enum.partial == new_enum.partial {
            Ok(old)
        } else if allow_override {
            if let Some(ns) = self.ns_mut() {
                ns.replace_tag(index, ty.clone());
            }
            Ok(ty)
        } else if old_enum.is_opaque() {
            // An enum's type depends on its values, so it cannot be
            // completed later as a struct can (cffi refuses this too).
            Err(self.redefinition(
                name_tok,
                format!(
                    "'enum {name}' was declared without enumerators; they must be given \
                     where the enum is first declared"
                ),
            ))
        } else {
            Err(self.redefinition(name_tok, format!("redefinition of 'enum {name}'")))
        }
    }

    // ---- declarators ----

    /// A declarator applied to `base`: its name (if any) and type.
    pub(crate) fn declarator_type(
        &mut self,
        base: &Ty,
        mode: Mode,
    ) -> PResult<(Option<Token>, Ty)> {
        self.declarator_type_adjusted(base, mode, false, false)
    }

    /// The declarator of a variable, typedef or member applied to `base`:
    /// there, as in cffi, the outermost arrays may have a `[...]` length.
    fn object_declarator_type(&mut self, base: &Ty) -> PResult<(Option<Token>, Ty)> {
        self.declarator_type_adjusted(base, Mode::Named, false, true)
    }

    /// A parameter's declarator applied to `base`. An array parameter is a
    /// pointer to its element (C's adjustment), adjusted before the type is
    /// built so that the element may be a struct completed only later, as
    /// cffi allows (`void (*f)(struct s[]);` before `struct s { ... };`).
    fn parameter_type(&mut self, base: &Ty) -> PResult<(Option<Token>, Ty)> {
        self.declarator_type_adjusted(base, Mode::Either, true, false)
    }

    fn declarator_type_adjusted(
        &mut self,
        base: &Ty,
        mode: Mode,
        array_is_pointer: bool,
        placeholder_length: bool,
    ) -> PResult<(Option<Token>, Ty)> {
        let mut ops = std::mem::take(&mut self.scratch);
        ops.clear();
        let result = match self.declarator(mode, &mut ops) {
            Ok(name) => {
                // The last step is the outermost derivation.
                if array_is_pointer
                    && let Some(last) = ops.last_mut()
                    && let Op::Array(_, at) = *last
                {
                    *last = Op::Pointer(at);
                }
                self.declared_placeholder_length =
                    ops.iter().any(|op| matches!(op, Op::PlaceholderArray(_)));
                self.apply(base, &mut ops, placeholder_length)
                    .map(|ty| (name, ty))
            }
            Err(e) => Err(e),
        };
        ops.clear();
        self.scratch = ops;
        result
    }

    /// Parses a declarator, appending its steps to `ops` in the order they
    /// apply to the base type: `*`s first, then the suffixes right to left,
    /// then what is inside parentheses.
    fn declarator(&mut self, mode: Mode, ops: &mut Vec<Op>) -> PResult<Option<Token>> {
        let first_pointer = ops.len();
        // `int (__stdcall *f)(int)`: the convention is ignored.
        while matches!(self.peek().kind, Tok::Kw(Kw::CallingConvention)) {
            self.bump();
        }
        while self.is(P::Star) {
            let star = self.bump();
            if ops.len() - first_pointer >= MAX_TYPE_DEPTH as usize {
                return Err(self.too_deep(star));
            }
            ops.push(Op::Pointer(star));
            while matches!(
                self.peek().kind,
                Tok::Kw(Kw::Const | Kw::Volatile | Kw::Restrict)
            ) {
                self.bump();
            }
        }
        let t = self.peek();
        let mut name = None;
        let mut inner: Option<Vec<Op>> = None;
        match t.kind {
            Tok::Ident if mode != Mode::Abstract => {
                self.bump();
                name = Some(t);
            }
            Tok::P(P::LParen) if self.nested_declarator(mode) => {
                self.bump();
                self.enter(t)?;
                let mut nested = Vec::new();
                name = self.declarator(mode, &mut nested)?;
                self.expect(P::RParen, "expected ')'")?;
                self.leave();
                inner = Some(nested);
            }
            _ if mode == Mode::Named => {
                return Err(self.error(t, "expected identifier or '('"));
            }
            _ => {}
        }
        let first_suffix = ops.len();
        loop {
            let t = self.peek();
            let op = match t.kind {
                Tok::P(P::LBracket) => self.array_suffix()?,
                Tok::P(P::LParen) => self.function_suffix()?,
                _ => break,
            };
            if ops.len() - first_suffix >= MAX_TYPE_DEPTH as usize {
                return Err(self.too_deep(t));
            }
            ops.push(op);
        }
        ops[first_suffix..].reverse();
        if let Some(nested) = inner {
            ops.extend(nested);
        }
        Ok(name)
    }

    /// Whether the `(` ahead opens a parenthesized declarator (rather than
    /// a parameter list of an abstract function declarator).
    fn nested_declarator(&mut self, mode: Mode) -> bool {
        if mode == Mode::Named {
            return true;
        }
        let t = self.peek2();
        match t.kind {
            Tok::P(P::Star | P::LParen | P::LBracket) => true,
            Tok::Ident => mode == Mode::Either && !self.is_type_name(self.text(t)),
            _ => false,
        }
    }

    fn array_suffix(&mut self) -> PResult<Op> {
        let lbracket = self.bump();
        while matches!(
            self.peek().kind,
            Tok::Kw(Kw::Const | Kw::Volatile | Kw::Restrict | Kw::Static)
        ) {
            self.bump();
        }
        let t = self.peek();
        let len = match t.kind {
            Tok::P(P::RBracket) => None,
            Tok::P(P::Ellipsis) => {
                // Where it may be is checked when the type is built.
                self.bump();
                self.expect(P::RBracket, "expected ']' after '...'")?;
                return Ok(Op::PlaceholderArray(lbracket));
            }
            _ => {
                let v = self.const_expr()?;
                if v.v < 0 {
                    return Err(self.error(t, "array size must be a non-negative integer constant"));
                }
                match usize::try_from(v.v) {
                    Ok(n) if n <= isize::MAX as usize => Some(n),
                    _ => return Err(self.error(t, "array is too large")),
                }
            }
        };
        self.expect(P::RBracket, "expected ']'")?;
        Ok(Op::Array(len, lbracket))
    }

    fn function_suffix(&mut self) -> PResult<Op> {
        let lparen = self.bump();
        self.enter(lparen)?;
        let mut params: Vec<CType> = Vec::new();
        let mut depth = 0u16;
        let mut parts = 0u32;
        let mut variadic = false;
        // The first parameter of type void: (where, named, how many before).
        let mut void_param: Option<(Token, bool)> = None;
        if self.is(P::RParen) {
            self.bump();
        } else {
            loop {
                let t = self.peek();
                if t.kind == Tok::P(P::Ellipsis) {
                    self.bump();
                    variadic = true;
                    self.expect(P::RParen, "expected ')' after '...'")?;
                    break;
                }
                let specs = self.specifiers(Ctx::Param)?;
                let (name, ty) = self.parameter_type(&specs.base)?;
                if ty.ty == CType::Void && void_param.is_none() {
                    void_param = Some((name.unwrap_or(t), name.is_some()));
                }
                // Arrays (through typedefs, of a `[...]` length too) and
                // functions as parameters are pointers.
                let element = match &ty.ty {
                    CType::Array(elem, _) => Some((**elem).clone()),
                    CType::Placeholder(p) => match &**p {
                        Placeholder::Array(elem) => Some(elem.clone()),
                        Placeholder::Integer(_) | Placeholder::Float(_) => None,
                    },
                    _ => None,
                };
                let ty = match (element, &ty.ty) {
                    (Some(elem), _) => Ty {
                        ty: CType::pointer_to(elem),
                        ..ty
                    },
                    (None, CType::Function(_)) => self.pointer_to(ty, t)?,
                    (None, _) => ty,
                };
                depth = depth.max(ty.depth);
                parts = self.more_parts(parts, ty.parts, t)?;
                params.push(ty.ty);
                let sep = self.peek();
                match sep.kind {
                    Tok::P(P::Comma) => {
                        self.bump();
                    }
                    Tok::P(P::RParen) => {
                        self.bump();
                        break;
                    }
                    _ => {
                        return Err(self.error(sep, "expected ',' or ')' in parameter list"));
                    }
                }
            }
        }
        if let Some((at, named)) = void_param {
            if params.len() == 1 && !named && !variadic {
                params.clear(); // (void)
            } else {
                return Err(self.error(at, "'void' must be the only parameter"));
            }
        }
        self.leave();
        Ok(Op::Function {
            params,
            depth,
            parts,
            variadic,
            at: lparen,
        })
    }

    /// The size of an array's element type `ty`, `None` if only the C
    /// compiler knows it; an error for a function or an incomplete type.
    fn element_size(&self, ty: &Ty, at: Token) -> PResult<Option<usize>> {
        if let CType::Function(_) = ty.ty {
            return Err(self.error(at, "declaration of an array of functions"));
        }
        match ty.ty.size() {
            Ok(size) => Ok(Some(size)),
            Err(Error::Missing(_)) => Ok(None),
            Err(_) => Err(self.error(at, format!("array has incomplete element type '{}'", ty.ty))),
        }
    }

    fn pointer_to(&self, ty: Ty, at: Token) -> PResult<Ty> {
        let index = match &ty.ty {
            CType::Scalar(s) => Some(*s as usize).filter(|&i| CScalar::ALL.get(i) == Some(s)),
            CType::Void => Some(CScalar::ALL.len()),
            _ => None,
        };
        if let Some(shared) = index.and_then(|i| self.ns().scalar_pointers.get(i)) {
            return Ok(shared.clone());
        }
        let depth = self.deeper(ty.depth, at)?;
        let parts = self.more_parts(ty.parts, 1, at)?;
        Ok(Ty {
            ty: CType::pointer_to(ty.ty),
            depth,
            parts,
        })
    }

    /// Applies a declarator's steps to the base type, checking each.
    /// `placeholder_length`: whether the outermost arrays may have a
    /// `[...]` length (in a variable, typedef or member, as in cffi).
    fn apply(&self, base: &Ty, ops: &mut Vec<Op>, placeholder_length: bool) -> PResult<Ty> {
        let mut ty = base.clone();
        // Where a `[...]` array was applied: only arrays may follow.
        let mut placeholder_at = None;
        for op in ops.drain(..) {
            if let Op::Pointer(_) | Op::Function { .. } = op
                && let Some(at) = placeholder_at
            {
                return Err(self.error(
                    at,
                    "only the outermost arrays of a variable, typedef or member may have a \
                     '[...]' length",
                ));
            }
            ty = match op {
                Op::Pointer(at) => self.pointer_to(ty, at)?,
                Op::Array(len, at) => {
                    let elem_size = self.element_size(&ty, at)?;
                    if let (Some(n), Some(elem_size)) = (len, elem_size)
                        && elem_size
                            .checked_mul(n)
                            .is_none_or(|bytes| bytes > isize::MAX as usize)
                    {
                        return Err(self.error(at, "array is too large"));
                    }
                    let depth = self.deeper(ty.depth, at)?;
                    let parts = self.more_parts(ty.parts, 1, at)?;
                    Ty {
                        ty: CType::array_of(ty.ty, len),
                        depth,
                        parts,
                    }
                }
                Op::PlaceholderArray(at) => {
                    if !placeholder_length {
                        return Err(self.error(
                            at,
                            "an array length of '[...]' is only allowed in a variable, typedef \
                             or member declaration",
                        ));
                    }
                    self.element_size(&ty, at)?;
                    placeholder_at = Some(at);
                    let depth = self.deeper(ty.depth, at)?;
                    let parts = self.more_parts(ty.parts, 1, at)?;
                    Ty {
                        ty: CType::Placeholder(Arc::new(Placeholder::Array(ty.ty))),
                        depth,
                        parts,
                    }
                }
                Op::Function {
                    params,
                    depth,
                    parts,
                    variadic,
                    at,
                } => {
                    match ty.ty {
                        CType::Array(..) => {
                            return Err(ParseError {
                                function_returns_array: true,
                                ..self.error(at, "function cannot return an array")
                            });
                        }
                        CType::Function(_) => {
                            return Err(self.error(at, "function cannot return a function"));
                        }
                        _ => {}
                    }
                    let depth = self.deeper(ty.depth.max(depth), at)?;
                    let parts = self.more_parts(ty.parts, parts.saturating_add(1), at)?;
                    Ty {
                        ty: CType::Function(Arc::new(FunctionType {
                            ret: ty.ty,
                            params,
                            variadic,
                        })),
                        depth,
                        parts,
                    }
                }
            };
        }
        Ok(ty)
    }
}
