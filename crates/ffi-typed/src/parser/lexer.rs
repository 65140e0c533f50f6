//! The lexer: a cursor over the source bytes producing one token at a time,
//! without allocating. A token is a kind and a byte range; numbers and
//! character constants are decoded by the expression evaluator when needed.
//!
//! Preprocessor lines: a `#` that is the first token of a line starts a
//! directive; the lexer then reports the end of that line as [`Tok::DirEnd`]
//! (backslash-newline continues it). Everywhere else newlines are blanks.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// The end of the source.
    Eof,
    /// The end of a preprocessor directive's line.
    DirEnd,
    /// `#` as the first token of a line: a directive follows.
    Hash,
    /// An identifier that is not a keyword.
    Ident,
    /// A keyword.
    Kw(Kw),
    /// A preprocessing number (`0x1fUL`, `3.5e+2`): decoded on use.
    Number,
    /// A character constant, with its prefix (`'a'`, `L'\n'`).
    Char,
    /// A string literal.
    Str,
    /// A punctuator.
    P(P),
    /// Something that is no token; the parser reports it.
    Invalid(LexError),
}

/// Keywords (several spellings map to one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kw {
    Void,
    Char,
    Short,
    Int,
    Long,
    Float,
    Double,
    Signed,
    Unsigned,
    Bool,
    Complex,
    Struct,
    Union,
    Enum,
    Typedef,
    Extern,
    Static,
    Inline,
    Const,
    Volatile,
    Restrict,
    /// `__cdecl`, `__stdcall`: Windows calling conventions, which mean
    /// nothing on the targets here and are accepted and ignored (as cffi
    /// does off 32-bit Windows).
    CallingConvention,
    Sizeof,
    Auto,
    Register,
}

/// Punctuators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum P {
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Semi,
    Comma,
    Star,
    Colon,
    Assign,
    Ellipsis,
    Dot,
    Plus,
    Minus,
    Tilde,
    Bang,
    Slash,
    Percent,
    Shl,
    Shr,
    Lt,
    Gt,
    Le,
    Ge,
    EqEq,
    Ne,
    Amp,
    AndAnd,
    Pipe,
    OrOr,
    Caret,
    Question,
    /// `#` that does not start a line.
    Hash,
    /// Any other punctuation character (`->`, `++`, `@` ... are errors
    /// wherever they appear, so they need no kind of their own).
    Other,
}

/// Why some bytes are no token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LexError {
    UnterminatedComment,
    UnterminatedChar,
    UnterminatedString,
    InvalidChar,
}

/// A token: its kind and its bytes `start..end` in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub start: u32,
    pub end: u32,
}

/// The cursor.
#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    in_directive: bool,
    /// Only blanks and comments since the last newline.
    line_start: bool,
}

/// Identifier characters (`$` as gcc allows it).
const fn ident_table(continuing: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphabetic() || c == b'_' || c == b'$' || (continuing && c.is_ascii_digit());
        b += 1;
    }
    table
}

static IDENT_START: [bool; 256] = ident_table(false);
static IDENT_CONT: [bool; 256] = ident_table(true);

fn keyword(word: &[u8]) -> Option<Kw> {
    // Every keyword starts with a lowercase letter or '_' and is 3..=12 long.
    if word.len() < 3 || word.len() > 12 || word[0].is_ascii_uppercase() {
        return None;
    }
    Some(match word {
        b"void" => Kw::Void,
        b"char" => Kw::Char,
        b"short" => Kw::Short,
        b"int" => Kw::Int,
        b"long" => Kw::Long,
        b"float" => Kw::Float,
        b"double" => Kw::Double,
        b"signed" | b"__signed" | b"__signed__" => Kw::Signed,
        b"unsigned" => Kw::Unsigned,
        b"_Bool" => Kw::Bool,
        b"_Complex" | b"__complex__" => Kw::Complex,
        b"struct" => Kw::Struct,
        b"union" => Kw::Union,
        b"enum" => Kw::Enum,
        b"typedef" => Kw::Typedef,
        b"extern" => Kw::Extern,
        b"static" => Kw::Static,
        b"inline" | b"__inline" | b"__inline__" | b"_Noreturn" => Kw::Inline,
        b"const" | b"__const" | b"__const__" => Kw::Const,
        b"volatile" | b"__volatile" | b"__volatile__" => Kw::Volatile,
        b"restrict" | b"__restrict" | b"__restrict__" => Kw::Restrict,
        b"__cdecl" | b"__stdcall" => Kw::CallingConvention,
        b"sizeof" => Kw::Sizeof,
        b"auto" => Kw::Auto,
        b"register" => Kw::Register,
        _ => return None,
    })
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            src: src.as_bytes(),
            pos: 0,
            in_directive: false,
            line_start: true,
        }
    }

    fn at(&self, offset: usize) -> u8 {
        self.src.get(self.pos + offset).copied().unwrap_or(0)
    }

    fn token(&self, kind: Tok, start: usize) -> Token {
        // Sources are at most u32::MAX bytes (checked by the parser).
        Token {
            kind,
            start: start as u32,
            end: self.pos as u32,
        }
    }

    /// The next token.
    pub(crate) fn next_token(&mut self) -> Token {
        // Blanks and comments.
        loop {
            let Some(&b) = self.src.get(self.pos) else {
                if self.in_directive {
                    self.in_directive = false;
                    return self.token(Tok::DirEnd, self.pos);
                }
                return self.token(Tok::Eof, self.pos);
            };
            match b {
                b'\n' => {
                    self.line_start = true;
                    if self.in_directive {
                        self.in_directive = false;
                        let t = self.token(Tok::DirEnd, self.pos);
                        self.pos += 1;
                        return t;
                    }
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | 0x0b | 0x0c => self.pos += 1,
                b'\\' if self.at(1) == b'\n' => self.pos += 2,
                b'\\' if self.at(1) == b'\r' && self.at(2) == b'\n' => self.pos += 3,
                b'/' if self.at(1) == b'/' => {
                    // To the end of the line, which stays (it may end a directive).
                    let rest = &self.src[self.pos..];
                    self.pos += rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
                }
                b'/' if self.at(1) == b'*' => {
                    let start = self.pos;
                    let body = &self.src[self.pos + 2..];
                    match body.windows(2).position(|w| w == b"*/") {
                        Some(i) => self.pos += 2 + i + 2,
                        None => {
                            self.pos = self.src.len();
                            return self.token(Tok::Invalid(LexError::UnterminatedComment), start);
                        }
                    }
                }
                _ => break,
            }
        }
        let start = self.pos;
        let first_on_line = self.line_start;
        self.line_start = false;
        let b = self.src[self.pos];
        if IDENT_START[b as usize] {
            self.pos += 1;
            while IDENT_CONT[self.at(0) as usize] {
                self.pos += 1;
            }
            let word = &self.src[start..self.pos];
            if self.at(0) == b'\'' && matches!(word, b"L" | b"u" | b"U" | b"u8") {
                return self.quoted(start, b'\'');
            }
            if self.at(0) == b'"' && matches!(word, b"L" | b"u" | b"U" | b"u8") {
                return self.quoted(start, b'"');
            }
            return match keyword(word) {
                Some(kw) => self.token(Tok::Kw(kw), start),
                None => self.token(Tok::Ident, start),
            };
        }
        if b.is_ascii_digit() || (b == b'.' && self.at(1).is_ascii_digit()) {
            self.pos += 1;
            loop {
                let c = self.at(0);
                if matches!(c, b'e' | b'E' | b'p' | b'P') && matches!(self.at(1), b'+' | b'-') {
                    self.pos += 2;
                } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            return self.token(Tok::Number, start);
        }
        if b == b'\'' || b == b'"' {
            return self.quoted(start, b);
        }
        let (p, len) = match (b, self.at(1)) {
            (b'{', _) => (P::LBrace, 1),
            (b'}', _) => (P::RBrace, 1),
            (b'(', _) => (P::LParen, 1),
            (b')', _) => (P::RParen, 1),
            (b'[', _) => (P::LBracket, 1),
            (b']', _) => (P::RBracket, 1),
            (b';', _) => (P::Semi, 1),
            (b',', _) => (P::Comma, 1),
            (b'*', _) => (P::Star, 1),
            (b':', _) => (P::Colon, 1),
            (b'.', b'.') if self.at(2) == b'.' => (P::Ellipsis, 3),
            (b'.', _) => (P::Dot, 1),
            (b'+', _) => (P::Plus, 1),
            (b'-', _) => (P::Minus, 1),
            (b'~', _) => (P::Tilde, 1),
            (b'!', b'=') => (P::Ne, 2),
            (b'!', _) => (P::Bang, 1),
            (b'/', _) => (P::Slash, 1),
            (b'%', _) => (P::Percent, 1),
            (b'<', b'<') => (P::Shl, 2),
            (b'<', b'=') => (P::Le, 2),
            (b'<', _) => (P::Lt, 1),
            (b'>', b'>') => (P::Shr, 2),
            (b'>', b'=') => (P::Ge, 2),
            (b'>', _) => (P::Gt, 1),
            (b'=', b'=') => (P::EqEq, 2),
            (b'=', _) => (P::Assign, 1),
            (b'&', b'&') => (P::AndAnd, 2),
            (b'&', _) => (P::Amp, 1),
            (b'|', b'|') => (P::OrOr, 2),
            (b'|', _) => (P::Pipe, 1),
            (b'^', _) => (P::Caret, 1),
            (b'?', _) => (P::Question, 1),
            (b'#', _) if first_on_line && !self.in_directive => {
                self.pos += 1;
                self.in_directive = true;
                return self.token(Tok::Hash, start);
            }
            (b'#', _) => (P::Hash, 1),
            (c, _) if c.is_ascii_graphic() => (P::Other, 1),
            (c, _) => {
                // A control character or a whole UTF-8 sequence (the source
                // is a str, so the sequence is complete).
                let len = match c {
                    0xf0..=0xff => 4,
                    0xe0..=0xef => 3,
                    0xc0..=0xdf => 2,
                    _ => 1,
                };
                self.pos = (self.pos + len).min(self.src.len());
                return self.token(Tok::Invalid(LexError::InvalidChar), start);
            }
        };
        self.pos += len;
        self.token(Tok::P(p), start)
    }

    /// A character constant or string literal whose opening quote is at
    /// `self.pos` (its prefix, if any, starts at `start`).
    fn quoted(&mut self, start: usize, quote: u8) -> Token {
        self.pos += 1;
        loop {
            match self.src.get(self.pos) {
                None | Some(b'\n') => {
                    let e = if quote == b'\'' {
                        LexError::UnterminatedChar
                    } else {
                        LexError::UnterminatedString
                    };
                    return self.token(Tok::Invalid(e), start);
                }
                Some(b'\\') => {
                    // Skip the escaped byte, unless it is a newline (then
                    // the constant is unterminated on this line).
                    if self.at(1) != b'\n' && self.pos + 1 < self.src.len() {
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                    }
                }
                Some(&c) if c == quote => {
                    self.pos += 1;
                    let kind = if quote == b'\'' { Tok::Char } else { Tok::Str };
                    return self.token(kind, start);
                }
                Some(_) => self.pos += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        let mut lexer = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lexer.next_token();
            out.push(t.kind);
            if t.kind == Tok::Eof {
                return out;
            }
        }
    }

    #[test]
    fn tokens() {
        use Tok::*;
        assert_eq!(
            kinds("unsigned x3 = 0x1fUL ... ->'a'L'\\''"),
            vec![
                Kw(super::Kw::Unsigned),
                Ident,
                P(super::P::Assign),
                Number,
                P(super::P::Ellipsis),
                P(super::P::Minus),
                P(super::P::Gt),
                Char,
                Char,
                Eof
            ]
        );
    }

    #[test]
    fn directives_end_at_the_line_end() {
        use Tok::*;
        assert_eq!(
            kinds("int a;\n /* x */ # define X \\\n 1 // c\n#x\nb"),
            vec![
                Kw(super::Kw::Int),
                Ident,
                P(super::P::Semi),
                Hash,
                Ident,
                Ident,
                Number,
                DirEnd,
                Hash,
                Ident,
                DirEnd,
                Ident,
                Eof
            ]
        );
        assert_eq!(kinds("a # b"), vec![Ident, P(super::P::Hash), Ident, Eof]);
        assert_eq!(
            kinds("#define X 1"),
            vec![Hash, Ident, Ident, Number, DirEnd, Eof]
        );
    }

    #[test]
    fn errors() {
        use Tok::*;
        assert_eq!(
            kinds("a /* b"),
            vec![Ident, Invalid(LexError::UnterminatedComment), Eof]
        );
        assert_eq!(
            kinds("'ab\nc"),
            vec![Invalid(LexError::UnterminatedChar), Ident, Eof]
        );
        assert_eq!(
            kinds("é@"),
            vec![Invalid(LexError::InvalidChar), P(super::P::Other), Eof]
        );
        assert_eq!(kinds("'\\"), vec![Invalid(LexError::UnterminatedChar), Eof]);
    }
}
