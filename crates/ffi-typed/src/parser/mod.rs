//! The declaration parser: cffi `cdef` source into a [`Declarations`]
//! namespace.
//!
//! ```
//! use ffi_typed::parser::{Declarations, TagKind};
//!
//! let mut decls = Declarations::new();
//! decls
//!     .parse(
//!         "#define N 4
//!          typedef struct point { int x, y; } point_t;
//!          enum color { RED, GREEN = N * 2 };
//!          int area(const point_t *corners[N], int (*cb)(void *), ...);",
//!     )
//!     .unwrap();
//! assert_eq!(decls.constant("GREEN"), Some(8));
//! let point = decls.tag(TagKind::Struct, "point").unwrap();
//! assert_eq!(point.size().unwrap(), 8);
//! let area = decls.function("area").unwrap();
//! assert!(area.variadic);
//! assert_eq!(area.params[0].to_string(), "struct point **");
//! assert_eq!(decls.parse_type("point_t[3]").unwrap().size().unwrap(), 24);
//!
//! let err = decls.parse("int f(void)\nint g;").unwrap_err();
//! assert_eq!(err.to_string(), "line 2:1: expected ';' after declaration\nint g;\n^");
//! ```
//!
//! What is accepted: declarations of functions (prototypes, variadic,
//! `(void)`, unnamed parameters; array and function parameters become
//! pointers), variables (`extern` optional), typedefs, structs and unions
//! (named, anonymous, nested, anonymous members, bitfields, flexible array
//! members, opaque declarations completed later), enums (also opaque:
//! `enum foo;`), arrays sized by integer constant expressions, function
//! pointers anywhere, `#define NAME <integer constant expression>` between
//! declarations, and initializers as cffi reads them: `static const int N
//! = <integer constant expression>;` declares an integer constant, an
//! initialized declaration of another type a constant of unknown value
//! ([`NameKind::OpaqueConstant`]). Constant expressions have C's types
//! and conversions (`~0u` is 4294967295, `-1 >> 1` is -1), with casts to
//! integer types and `sizeof(type)`. Qualifiers (`const`, `volatile`,
//! `restrict`, `__restrict`) and the specifiers `extern`, `static`,
//! `inline` are accepted and dropped.
//!
//! cffi's `...` placeholders, which leave a fact to the C compiler, are
//! accepted where cffi accepts them (see `crate::placeholder`): `typedef
//! ... T;` (an opaque struct spelt `T`), `typedef ... *T;` (a pointer to
//! one), `typedef int... T;` and `typedef float... T;`
//! ([`Placeholder::Integer`](crate::Placeholder::Integer),
//! [`Placeholder::Float`](crate::Placeholder::Float)), `...;` among a
//! struct's or union's members ([`RecordBody::partial`](crate::RecordBody::partial)),
//! `[...]` as the length of the outermost arrays of a variable, typedef or
//! member ([`Placeholder::Array`](crate::Placeholder::Array)), `...` at the
//! end of an enum ([`EnumType::partial`](crate::EnumType::partial)) and
//! `#define NAME ...` ([`NameKind::UnknownConstant`]). So are cffi's
//! `extern "Python"` declarations (also `"Python+C"`, and blocks
//! `extern "Python" { ... }`): their functions are kept apart from the
//! ordinary names ([`Declarations::extern_python`]).
//!
//! Not accepted: function definitions, `__attribute__`, preprocessor
//! directives other than `#define` (and `#define` only between
//! declarations), other language linkages (`extern "C"`), `...` elsewhere.
//!
//! Limits, so that no input can exhaust the stack, take unbounded time or
//! memory, or overflow a size, each refused with an error at its
//! line:column: syntactic nesting (parentheses, declarators, struct bodies,
//! parameter lists, operators, `sizeof`, conditional expressions) is at
//! most [`MAX_NESTING`] deep; a type has at most [`MAX_TYPE_DEPTH`]
//! derivations (pointer, array, function) and at most [`MAX_TYPE_PARTS`]
//! parts, typedefs expanded; an array's size in bytes, also through
//! typedefs, is at most `isize::MAX`, and a record's members add up to less
//! than 2^60 bytes; integer literals and constant expressions are 64-bit
//! (an overflow of a signed value, a shift past the width or a division by
//! zero is an error); a source is smaller than 4 GiB.

#[cfg(test)]
mod cycle_release;
mod entries;
mod expr;
mod hasher;
mod lexer;
mod namespace;
mod parse;
mod same;
mod table;

use std::fmt;
use std::sync::{Arc, RwLock};

use crate::ctype::{self, CType, FunctionType};
use crate::layout::Packing;

use entries::{Symbol, TagEntry};
use hasher::FastMap;
use namespace::Namespace;
use parse::{NsRef, Parser};

/// How deeply constructs may nest in the source.
pub const MAX_NESTING: u32 = 100;
/// How many derivations (pointer, array, function) a type may have.
pub const MAX_TYPE_DEPTH: u16 = 200;
/// How many parts a type may have, counting every pointer, array, function
/// and base type in its C spelling, typedefs expanded: a typedef used twice
/// counts twice. (Types share their parts, so without this limit a few
/// lines, `typedef void (*f1)(f0, f0); typedef void (*f2)(f1, f1); ...`,
/// could declare a type whose spelling, and any walk over it, is
/// exponentially long.)
pub const MAX_TYPE_PARTS: u32 = 1 << 16;
/// How many type names [`Declarations::parse_type`] remembers.
const TYPE_CACHE_CAPACITY: usize = 1024;
/// The longest type name [`Declarations::parse_type`] remembers (so the
/// cache holds at most 256 KiB of names).
const TYPE_CACHE_MAX_NAME: usize = 256;

/// A malformed declaration: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The offending source line.
    pub source_line: String,
    /// Whether the declaration is well formed but declares again, and
    /// differently, a name that is already declared (cffi reports these
    /// apart from syntax errors).
    pub redefinition: bool,
    /// Whether the text is well formed but declares a function returning
    /// an array, which C forbids (cffi's parser accepts such a type name,
    /// and building the type then fails with a TypeError; a function
    /// returning a function is a syntax error there too).
    pub function_returns_array: bool,
}

impl ParseError {
    /// The error at byte `offset` of `src` (clamped to the source and moved
    /// back to a character boundary).
    pub(crate) fn at(src: &str, offset: usize, message: String) -> ParseError {
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &src.as_bytes()[..offset];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_end = src.as_bytes()[offset..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(src.len(), |i| offset + i);
        let column = 1 + src[line_start..offset].chars().count();
        let source_line = src[line_start..line_end]
            .strip_suffix('\r')
            .unwrap_or(&src[line_start..line_end])
            .to_string();
        ParseError {
            line,
            column,
            message,
            source_line,
            redefinition: false,
            function_returns_array: false,
        }
    }
}

impl fmt::Display for ParseError {
    /// `line 3:14: expected ';'`, then the line and a caret under the column.
    /// Of a line longer than 160 characters only the 160 around the column
    /// are shown, with `…` where it was cut.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const WINDOW: usize = 160;
        writeln!(f, "line {}:{}: {}", self.line, self.column, self.message)?;
        let chars = self.source_line.chars().count();
        if chars <= WINDOW {
            writeln!(f, "{}", self.source_line)?;
            return write!(f, "{}^", " ".repeat(self.column.saturating_sub(1)));
        }
        let at = self.column.saturating_sub(1).min(chars);
        let first = at.saturating_sub(WINDOW / 2).min(chars - WINDOW);
        let shown: String = self.source_line.chars().skip(first).take(WINDOW).collect();
        let (before, after) = (first > 0, first + WINDOW < chars);
        writeln!(
            f,
            "{}{shown}{}",
            if before { "…" } else { "" },
            if after { "…" } else { "" }
        )?;
        write!(f, "{}^", " ".repeat(at - first + usize::from(before)))
    }
}

impl std::error::Error for ParseError {}

/// Options of one [`Declarations::parse_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// The packing of every struct and union defined by this parse: cffi's
    /// `packed=True` is [`Packing::Packed`], `pack=N` is [`Packing::Pack`].
    pub packing: Packing,
    /// cffi's `override=True`: a name (typedef, function, variable,
    /// constant, tag) already declared differently is replaced instead of
    /// being an error. Types made from the old declaration keep it.
    pub allow_override: bool,
}

impl ParseOptions {
    /// These options with this packing.
    pub fn with_packing(self, packing: Packing) -> ParseOptions {
        ParseOptions { packing, ..self }
    }

    /// These options with `allow_override` set.
    pub fn with_override(self, allow_override: bool) -> ParseOptions {
        ParseOptions {
            allow_override,
            ..self
        }
    }
}

/// What an ordinary declared name is ([`Declarations::names`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// A typedef.
    Typedef,
    /// A function.
    Function,
    /// A global variable.
    Variable,
    /// A `#define`, an enumerator, or an integer object with an
    /// initializer (`static const int N = 42;`).
    Constant,
    /// An object of another type with an initializer (`static const double
    /// PI = 3.14;`, `static const char SEP = ',';`): a constant whose value
    /// only the C source knows (cffi reads it in API mode only).
    OpaqueConstant,
    /// `#define NAME ...`: a constant whose value, and even type, only the
    /// C compiler knows (cffi's ABI mode does not expose it).
    UnknownConstant,
}

/// How a function is declared `extern "Python"` (cffi's way to have C call
/// Python through a real C function, in API mode and for embedding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExternPython {
    /// `extern "Python"`: the function is the module's own (`static`).
    Python,
    /// `extern "Python+C"` (or `"C+Python"`): the function is also exported
    /// to other C code.
    PythonPlusC,
}

/// The namespace of a struct, union or enum tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TagKind {
    /// `struct`
    Struct,
    /// `union`
    Union,
    /// `enum`
    Enum,
}

impl TagKind {
    /// `struct`, `union` or `enum`.
    pub fn keyword(self) -> &'static str {
        match self {
            TagKind::Struct => "struct",
            TagKind::Union => "union",
            TagKind::Enum => "enum",
        }
    }
}

/// Where a constant came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConstantKind {
    /// `#define NAME value`
    Define,
    /// An enumerator.
    Enumerator,
    /// An enumerator of an enum that ends with cffi's `...`
    /// ([`EnumType::partial`](crate::EnumType::partial)): its value here is
    /// C's, but cffi's ABI mode takes it as known only to the compiler
    /// (`VerificationMissing`), since cffi's API mode asks the compiler.
    PartialEnumerator,
    /// The initializer of a declaration of integer type (`static const int
    /// N = 42;`, as cffi reads it), converted to that type.
    Initializer,
}

/// A namespace of C declarations that accumulates over several
/// [`parse`](Declarations::parse) calls, like cffi's `FFI.cdef` called
/// repeatedly.
///
/// Each parse is all or nothing: after an error the namespace is as it was
/// before the call. Names follow C: typedefs, functions, variables and
/// constants (enumerators and `#define`s) share one namespace. Tags follow
/// cffi: struct, union and enum tags have a namespace each, so
/// `struct foo` and `union foo` are two types (C has one namespace for
/// all tags). The fixed-width and platform types
/// (`int8_t`..`uint64_t`, `size_t`, `ssize_t`, `intptr_t`, `uintptr_t`,
/// `ptrdiff_t`, `wchar_t`, `char16_t`, `char32_t`, `FILE`) are predeclared;
/// a typedef of the same name replaces them.
///
/// Types handed out (by the lookups, the iterators and
/// [`parse_type`](Declarations::parse_type)) stay valid and complete for as
/// long as they are held, also after the namespace is dropped. Dropping it
/// frees everything else it made, self-referential structs included; the
/// structs on a cycle that were handed out (and what they lead to) are
/// kept for the rest of the process (see `docs/architecture.md`).
///
/// ```
/// use ffi_typed::{Declarations, TagKind};
///
/// let mut decls = Declarations::new();
/// decls
///     .parse(
///         "#define N 4\n\
///          typedef struct point { int x, y; } point_t;\n\
///          int area(point_t *p, int scale[N]);",
///     )
///     .unwrap();
/// assert_eq!(decls.constant("N"), Some(4));
/// assert_eq!(decls.typedef("point_t").unwrap().size().unwrap(), 8);
/// assert!(decls.tag(TagKind::Struct, "point").is_some());
/// assert_eq!(decls.parse_type("point_t *[N]").unwrap().size().unwrap(), 32);
///
/// let err = decls.parse("int f(int;").unwrap_err();
/// assert_eq!((err.line, err.column), (1, 10));
/// ```
pub struct Declarations {
    ns: Namespace,
    cache: RwLock<FastMap<Box<str>, CType>>,
}

impl Default for Declarations {
    fn default() -> Declarations {
        Declarations::new()
    }
}

impl fmt::Debug for Declarations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Declarations")
            .field("names", &self.ns.ordinary.entries.len())
            .field("tags", &self.ns.tags.entries.len())
            .finish_non_exhaustive()
    }
}

impl Declarations {
    /// An empty namespace.
    pub fn new() -> Declarations {
        Declarations {
            ns: Namespace::new(),
            cache: RwLock::new(FastMap::default()),
        }
    }

    /// Parses declarations into this namespace with default options.
    pub fn parse(&mut self, src: &str) -> Result<(), ParseError> {
        self.parse_with(src, ParseOptions::default())
    }

    /// Parses declarations into this namespace. On error nothing is
    /// declared.
    ///
    /// ```
    /// use ffi_typed::{Declarations, Packing, ParseOptions};
    ///
    /// let mut decls = Declarations::new();
    /// let packed = ParseOptions::default().with_packing(Packing::Packed);
    /// decls.parse_with("struct wire { char kind; int length; };", packed).unwrap();
    /// assert_eq!(decls.parse_type("struct wire").unwrap().size().unwrap(), 5);
    ///
    /// // A different declaration of a name is an error, unless overriding.
    /// decls.parse("typedef int id_t;").unwrap();
    /// assert!(decls.parse("typedef long id_t;").is_err());
    /// let replace = ParseOptions::default().with_override(true);
    /// decls.parse_with("typedef long id_t;", replace).unwrap();
    /// assert_eq!(decls.typedef("id_t").unwrap().size().unwrap(), 8);
    /// ```
    pub fn parse_with(&mut self, src: &str, options: ParseOptions) -> Result<(), ParseError> {
        self.ns.generation += 1;
        self.ns.journal.clear();
        self.ns.pending.clear();
        self.ns.parse_start = self.ns.records.len();
        let result = Parser::new(src, NsRef::Mut(&mut self.ns), options).declarations();
        match result {
            Ok(()) => {
                self.ns.commit();
                self.cache
                    .get_mut()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                Ok(())
            }
            Err(e) => {
                self.ns.rollback();
                Err(e)
            }
        }
    }

    /// Declares here every typedef, struct, union and enum tag and every
    /// constant that `other` declares (cffi's `ffi.include`); functions and
    /// global variables are not included. The types are shared, not copied,
    /// so a value of one passes where the other namespace declared it. A
    /// name declared in both must mean the same thing in both; otherwise
    /// nothing is included and the error names it.
    ///
    /// ```
    /// use ffi_typed::parser::Declarations;
    ///
    /// let mut base = Declarations::new();
    /// base.parse("typedef struct point { int x, y; } point_t;\n#define ORIGIN 0").unwrap();
    /// let mut mine = Declarations::new();
    /// mine.include(&base).unwrap();
    /// mine.parse("point_t *move(point_t *, int);").unwrap();
    /// assert_eq!(mine.typedef("point_t"), base.typedef("point_t"));
    /// assert_eq!(mine.constant("ORIGIN"), Some(0));
    ///
    /// let mut clash = Declarations::new();
    /// clash.parse("typedef long point_t;").unwrap();
    /// let err = clash.include(&base).unwrap_err();
    /// assert!(err.to_string().contains("point_t"), "{err}");
    /// ```
    pub fn include(&mut self, other: &Declarations) -> Result<(), crate::Error> {
        let included = |symbol: &Symbol| matches!(symbol, Symbol::Typedef(_) | Symbol::Constant(_));
        let same = |a: &Symbol, b: &Symbol| match (a, b) {
            (Symbol::Typedef(a), Symbol::Typedef(b)) => a.ty == b.ty,
            (Symbol::Constant(a), Symbol::Constant(b)) => a.value.v == b.value.v,
            _ => false,
        };
        let clash = |name: &str| {
            crate::Error::Value(format!(
                "cannot include: '{name}' is declared differently in the two namespaces"
            ))
        };
        // Check everything first, so that a clash includes nothing.
        for (_, name, symbol) in other.ns.ordinary.iter().filter(|(_, _, s)| included(s)) {
            if let Some(mine) = self.ns.ordinary.get(name)
                && !same(mine, symbol)
            {
                return Err(clash(name));
            }
        }
        for (kind, name, entry) in other.ns.tags.iter() {
            if let Some(mine) = self.ns.tags.get(&(kind, name))
                && mine.ty != entry.ty
            {
                return Err(clash(&format!("{} {name}", kind.keyword())));
            }
        }
        // The types now live in both namespaces: neither may release them.
        for (_, name, symbol) in other.ns.ordinary.iter().filter(|(_, _, s)| included(s)) {
            if self.ns.ordinary.get(name).is_none() {
                if let Symbol::Typedef(ty) = symbol {
                    escaping(&ty.ty);
                }
                self.ns.ordinary.push(name, symbol.clone());
            }
        }
        let generation = self.ns.generation;
        for (kind, name, entry) in other.ns.tags.iter() {
            if self.ns.tags.get(&(kind, name)).is_none() {
                let ty = escaping(&entry.ty).clone();
                self.ns
                    .tags
                    .push(&(kind, name), TagEntry { ty, generation });
            }
        }
        self.cache
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }

    /// Parses a type name (`const char *[4]`, `struct foo *`,
    /// `int (*)(int, ...)`) against this namespace. An undeclared struct or
    /// union tag names an opaque record, an undeclared enum tag an enum
    /// without values (`unsigned int`, as cffi guesses); neither is
    /// declared. An anonymous struct or union may be defined in it
    /// (`struct { int a; } *`, as cffi allows); a type name declares
    /// nothing, so it cannot define a tag or an enum. Results are cached (up to 1,024 names, each of at most 256
    /// bytes).
    pub fn parse_type(&self, name: &str) -> Result<CType, ParseError> {
        if let Some(ty) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(ty.clone());
        }
        let ty = Parser::new(name, NsRef::Shared(&self.ns), ParseOptions::default()).type_name()?;
        // Cached types are handed out again without this step.
        ty.mark_escaped();
        if name.len() > TYPE_CACHE_MAX_NAME {
            return Ok(ty);
        }
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= TYPE_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(name.into(), ty.clone());
        Ok(ty)
    }

    /// The type a typedef names (not the predeclared ones).
    pub fn typedef(&self, name: &str) -> Option<CType> {
        match self.ns.ordinary.get(name)? {
            Symbol::Typedef(ty) => Some(escaping(&ty.ty).clone()),
            _ => None,
        }
    }

    /// A struct, union or enum by tag.
    pub fn tag(&self, kind: TagKind, name: &str) -> Option<CType> {
        let entry = self.ns.tags.get(&(kind, name))?;
        Some(escaping(&entry.ty).clone())
    }

    /// A declared function.
    pub fn function(&self, name: &str) -> Option<Arc<FunctionType>> {
        match self.ns.ordinary.get(name)? {
            Symbol::Function(f) => Some(escaping_function(f).clone()),
            _ => None,
        }
    }

    /// A declared global variable's type.
    pub fn variable(&self, name: &str) -> Option<CType> {
        match self.ns.ordinary.get(name)? {
            Symbol::Variable(ty) => Some(escaping(&ty.ty).clone()),
            _ => None,
        }
    }

    /// The value of an integer constant: a `#define`, an enumerator, or a
    /// declaration of integer type with an initializer.
    pub fn constant(&self, name: &str) -> Option<i128> {
        match self.ns.ordinary.get(name)? {
            Symbol::Constant(c) => Some(c.value.v),
            _ => None,
        }
    }

    /// How an integer constant was declared.
    pub fn constant_kind(&self, name: &str) -> Option<ConstantKind> {
        match self.ns.ordinary.get(name)? {
            Symbol::Constant(c) => Some(c.kind),
            _ => None,
        }
    }

    /// The type of a constant whose value is not known here
    /// ([`NameKind::OpaqueConstant`]).
    ///
    /// ```
    /// use ffi_typed::Declarations;
    ///
    /// let mut decls = Declarations::new();
    /// decls.parse("static const int N = 6 * 7; static const double PI = 3.14;").unwrap();
    /// assert_eq!(decls.constant("N"), Some(42));
    /// assert_eq!(decls.opaque_constant("PI").unwrap().to_string(), "double");
    /// assert_eq!((decls.constant("PI"), decls.variable("PI")), (None, None));
    /// ```
    pub fn opaque_constant(&self, name: &str) -> Option<CType> {
        match self.ns.ordinary.get(name)? {
            Symbol::OpaqueConstant(ty) => Some(escaping(&ty.ty).clone()),
            _ => None,
        }
    }

    /// What kind of ordinary name `name` is, if it is declared (not the
    /// predeclared types).
    pub fn name_kind(&self, name: &str) -> Option<NameKind> {
        self.ns.ordinary.get(name).map(Symbol::name_kind)
    }

    /// A function declared `extern "Python"`, and how. These names are
    /// apart from the ordinary ones (as in cffi): none of the other lookups
    /// finds them, and an ordinary function may have the same name.
    ///
    /// ```
    /// use ffi_typed::{Declarations, ExternPython};
    ///
    /// let mut decls = Declarations::new();
    /// decls
    ///     .parse(
    ///         "extern \"Python\" int on_event(int);
    ///          extern \"Python+C\" { void log_line(const char *); }",
    ///     )
    ///     .unwrap();
    /// let (f, kind) = decls.extern_python("on_event").unwrap();
    /// assert_eq!((f.params.len(), kind), (1, ExternPython::Python));
    /// assert_eq!(decls.extern_python("log_line").unwrap().1, ExternPython::PythonPlusC);
    /// assert!(decls.function("on_event").is_none());
    /// ```
    pub fn extern_python(&self, name: &str) -> Option<(Arc<FunctionType>, ExternPython)> {
        let entry = self.ns.extern_python.get(name)?;
        Some((escaping_function(&entry.function).clone(), entry.kind))
    }

    /// Every function declared `extern "Python"`, in declaration order.
    pub fn extern_pythons(&self) -> impl Iterator<Item = (&str, &Arc<FunctionType>, ExternPython)> {
        self.ns
            .extern_python
            .iter()
            .map(|(_, n, e)| (n, escaping_function(&e.function), e.kind))
    }

    /// Every ordinary name (typedef, function, variable, constant) and its
    /// kind, in declaration order. Unlike the iterators that yield types,
    /// this hands no type out, so it keeps no record alive after the
    /// namespace is dropped (see [`Declarations`]).
    pub fn names(&self) -> impl Iterator<Item = (NameKind, &str)> {
        self.ns.ordinary.iter().map(|(_, n, s)| (s.name_kind(), n))
    }

    /// Every struct, union and enum tag and its kind, in declaration order,
    /// handing no type out (as [`Declarations::names`]).
    pub fn tag_names(&self) -> impl Iterator<Item = (TagKind, &str)> {
        self.ns.tags.iter().map(|(kind, n, _)| (kind, n))
    }

    /// Every typedef, in declaration order.
    pub fn typedefs(&self) -> impl Iterator<Item = (&str, &CType)> {
        self.ns.ordinary.iter().filter_map(|(_, n, s)| match s {
            Symbol::Typedef(ty) => Some((n, escaping(&ty.ty))),
            _ => None,
        })
    }

    /// Every tagged type (kind, tag, type), in declaration order.
    pub fn tags(&self) -> impl Iterator<Item = (TagKind, &str, &CType)> {
        self.ns
            .tags
            .iter()
            .map(|(kind, n, e)| (kind, n, escaping(&e.ty)))
    }

    /// Every function, in declaration order.
    pub fn functions(&self) -> impl Iterator<Item = (&str, &Arc<FunctionType>)> {
        self.ns.ordinary.iter().filter_map(|(_, n, s)| match s {
            Symbol::Function(f) => Some((n, escaping_function(f))),
            _ => None,
        })
    }

    /// Every variable, in declaration order.
    pub fn variables(&self) -> impl Iterator<Item = (&str, &CType)> {
        self.ns.ordinary.iter().filter_map(|(_, n, s)| match s {
            Symbol::Variable(ty) => Some((n, escaping(&ty.ty))),
            _ => None,
        })
    }

    /// Every constant (`#define`s and enumerators), in declaration order.
    pub fn constants(&self) -> impl Iterator<Item = (&str, i128, ConstantKind)> {
        self.ns.ordinary.iter().filter_map(|(_, n, s)| match s {
            Symbol::Constant(c) => Some((n, c.value.v, c.kind)),
            _ => None,
        })
    }
}

impl Declarations {
    /// Calls `f` with every typedef's, tag's and variable's type and every
    /// function's type, without handing them out (for `fuzzing`, which
    /// only looks at them: `f` must not keep a clone).
    pub(crate) fn inspect_in_place(&self, mut f: impl FnMut(&CType)) {
        for (_, _, symbol) in self.ns.ordinary.iter() {
            match symbol {
                Symbol::Typedef(ty) | Symbol::Variable(ty) | Symbol::OpaqueConstant(ty) => {
                    f(&ty.ty)
                }
                Symbol::Function(func) => {
                    f(&func.ret);
                    func.params.iter().for_each(&mut f);
                }
                Symbol::Constant(_) | Symbol::UnknownConstant => {}
            }
        }
        for (_, _, entry) in self.ns.tags.iter() {
            f(&entry.ty);
        }
        for (_, _, entry) in self.ns.extern_python.iter() {
            f(&entry.function.ret);
            entry.function.params.iter().for_each(&mut f);
        }
    }
}

/// `ty`, marked as handed out of its namespace (see `ctype::release_cycles`).
fn escaping(ty: &CType) -> &CType {
    ty.mark_escaped();
    ty
}

fn escaping_function(f: &Arc<FunctionType>) -> &Arc<FunctionType> {
    f.mark_escaped();
    f
}

impl Drop for Declarations {
    /// Frees the records nothing outside can reach (breaking their cycles),
    /// then drops the declarations newest first: a type refers only to
    /// older ones, which are then still alive, so no drop recurses deeply.
    fn drop(&mut self) {
        // SAFETY: the namespace is being dropped by its owner, and every
        // type it handed out went through `escaping`/`escaping_function`
        // (the lookups and iterators above) or `parse_type` (marked before
        // it is cached and returned); `inspect_in_place` lends types for
        // the duration of a call only, to crate code that keeps no clone.
        unsafe { ctype::release_cycles(&self.ns.records) };
        while self.ns.ordinary.entries.pop().is_some() {}
        while self.ns.tags.entries.pop().is_some() {}
        while self.ns.extern_python.entries.pop().is_some() {}
    }
}
