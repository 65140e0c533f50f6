//! Integer constant expressions, evaluated as gcc does on LP64: every value
//! has a C type (`int`, `unsigned int`, `long`, `unsigned long`; `long long`
//! is `long`), literals get theirs by C's rules, operands undergo the usual
//! arithmetic conversions, unsigned arithmetic wraps. Signed overflow,
//! division by zero and out-of-range shift counts are errors, except in
//! operands that are not evaluated (`0 && 1/0`). A left shift into the sign
//! bit gives gcc's value (`1 << 31` is `INT_MIN`).

use ffi_raw::{CScalar, Target};

use super::entries::{IntTy, Symbol, Val};
use super::lexer::{Kw, P, Tok, Token};
use super::parse::{PResult, Parser};
use crate::ctype::CType;

impl IntTy {
    fn bits(self) -> u32 {
        match self {
            IntTy::Int | IntTy::UInt => 32,
            IntTy::Long | IntTy::ULong => 64,
        }
    }

    fn signed(self) -> bool {
        matches!(self, IntTy::Int | IntTy::Long)
    }

    /// The type an enumerator with this value gets.
    pub(crate) fn for_value(v: i128) -> IntTy {
        if i32::try_from(v).is_ok() {
            IntTy::Int
        } else if u32::try_from(v).is_ok() {
            IntTy::UInt
        } else if i64::try_from(v).is_ok() {
            IntTy::Long
        } else {
            IntTy::ULong
        }
    }
}

/// The usual arithmetic conversions (all four types are at least `int`).
fn common(a: IntTy, b: IntTy) -> IntTy {
    use IntTy::*;
    match (a, b) {
        (ULong, _) | (_, ULong) => ULong,
        (Long, _) | (_, Long) => Long,
        (UInt, _) | (_, UInt) => UInt,
        _ => Int,
    }
}

/// `v` converted to a `bits`-wide integer (two's complement).
fn wrap_bits(v: i128, bits: u32, signed: bool) -> i128 {
    let modulus = 1i128 << bits;
    let low = v & (modulus - 1);
    if signed && low >> (bits - 1) != 0 {
        low - modulus
    } else {
        low
    }
}

fn wrap(v: i128, ty: IntTy) -> i128 {
    wrap_bits(v, ty.bits(), ty.signed())
}

fn precedence(p: P) -> Option<u8> {
    Some(match p {
        P::OrOr => 1,
        P::AndAnd => 2,
        P::Pipe => 3,
        P::Caret => 4,
        P::Amp => 5,
        P::EqEq | P::Ne => 6,
        P::Lt | P::Gt | P::Le | P::Ge => 7,
        P::Shl | P::Shr => 8,
        P::Plus | P::Minus => 9,
        P::Star | P::Slash | P::Percent => 10,
        _ => return None,
    })
}

/// A value cast to a C type, if that is an integer type.
pub(crate) fn convert_to(ty: &CType, v: Val) -> Option<Val> {
    let scalar = match ty {
        CType::Scalar(CScalar::Bool) => {
            return Some(Val {
                v: (v.v != 0) as i128,
                ty: IntTy::Int,
            });
        }
        CType::Scalar(s) => *s,
        CType::Enum(e) => e.underlying,
        _ => return None,
    };
    let raw = scalar.raw_type();
    if !raw.is_integer() {
        return None;
    }
    let signed = raw.is_signed_integer();
    let target = match (raw.size(), signed) {
        (8, true) => IntTy::Long,
        (8, false) => IntTy::ULong,
        (4, true) => IntTy::Int,
        (4, false) => IntTy::UInt,
        (size, _) => {
            // char and short: truncated, then promoted to int.
            return Some(Val {
                v: wrap_bits(v.v, size as u32 * 8, signed),
                ty: IntTy::Int,
            });
        }
    };
    Some(Val {
        v: wrap(v.v, target),
        ty: target,
    })
}

/// A suffix's (unsigned, number of `l`s), if it is a valid one.
fn suffix(s: &[u8]) -> Option<(bool, u8)> {
    let (unsigned, rest) = match s {
        [b'u' | b'U', rest @ ..] => (true, rest),
        [rest @ .., b'u' | b'U'] => (true, rest),
        _ => (false, s),
    };
    let longs = match rest {
        b"" => 0,
        b"l" | b"L" => 1,
        b"ll" | b"LL" => 2,
        _ => return None,
    };
    Some((unsigned, longs))
}

impl Parser<'_, '_> {
    /// A conditional expression (what C allows as a constant expression).
    pub(crate) fn const_expr(&mut self) -> PResult<Val> {
        let cond = self.binary(1)?;
        let q = self.peek();
        if q.kind != Tok::P(P::Question) {
            return Ok(cond);
        }
        self.bump();
        self.enter(q)?;
        let first = cond.v != 0;
        self.unevaluated += u32::from(!first);
        let a = self.const_expr()?;
        self.unevaluated -= u32::from(!first);
        self.expect(P::Colon, "expected ':' in conditional expression")?;
        self.unevaluated += u32::from(first);
        let b = self.const_expr()?;
        self.unevaluated -= u32::from(first);
        self.leave();
        let ty = common(a.ty, b.ty);
        let chosen = if first { a } else { b };
        Ok(Val {
            v: wrap(chosen.v, ty),
            ty,
        })
    }

    /// Binary operators of precedence `min` and above.
    fn binary(&mut self, min: u8) -> PResult<Val> {
        let mut lhs = self.unary()?;
        loop {
            let op = self.peek();
            let Tok::P(p) = op.kind else { break };
            let Some(prec) = precedence(p) else { break };
            if prec < min {
                break;
            }
            self.bump();
            let skip = match p {
                P::AndAnd => lhs.v == 0,
                P::OrOr => lhs.v != 0,
                _ => false,
            };
            self.unevaluated += u32::from(skip);
            let rhs = self.binary(prec + 1)?;
            self.unevaluated -= u32::from(skip);
            lhs = self.binop(p, lhs, rhs, op)?;
        }
        Ok(lhs)
    }

    fn binop(&self, p: P, a: Val, b: Val, op: Token) -> PResult<Val> {
        let live = self.unevaluated == 0;
        let int = |v: bool| Val {
            v: v as i128,
            ty: IntTy::Int,
        };
        match p {
            P::AndAnd => return Ok(int(a.v != 0 && b.v != 0)),
            P::OrOr => return Ok(int(a.v != 0 || b.v != 0)),
            P::Shl | P::Shr => {
                let ty = a.ty;
                let Ok(count) = u32::try_from(b.v) else {
                    return self.dead_or(live, op, "shift count out of range", ty);
                };
                if count >= ty.bits() {
                    return self.dead_or(live, op, "shift count out of range", ty);
                }
                let v = if p == P::Shl {
                    wrap(a.v << count, ty)
                } else {
                    a.v >> count
                };
                return Ok(Val { v, ty });
            }
            _ => {}
        }
        let ty = common(a.ty, b.ty);
        let (x, y) = (wrap(a.v, ty), wrap(b.v, ty));
        // |x|, |y| < 2^64: sums fit in i128; an unsigned product may not,
        // but only its low 64 bits matter then.
        let v = match p {
            P::Plus => x + y,
            P::Minus => x - y,
            P::Star => x.wrapping_mul(y),
            P::Slash | P::Percent => {
                if y == 0 {
                    return self.dead_or(live, op, "division by zero", ty);
                }
                if p == P::Slash { x / y } else { x % y }
            }
            P::Lt => return Ok(int(x < y)),
            P::Gt => return Ok(int(x > y)),
            P::Le => return Ok(int(x <= y)),
            P::Ge => return Ok(int(x >= y)),
            P::EqEq => return Ok(int(x == y)),
            P::Ne => return Ok(int(x != y)),
            P::Amp => x & y,
            P::Pipe => x | y,
            _ => x ^ y,
        };
        self.checked(v, ty, live, op)
    }

    /// `v` as a value of `ty`: wrapped if unsigned, an overflow error if
    /// signed and out of range (in evaluated code).
    fn checked(&self, v: i128, ty: IntTy, live: bool, op: Token) -> PResult<Val> {
        let wrapped = wrap(v, ty);
        if ty.signed() && wrapped != v && live {
            return Err(self.error(op, "integer overflow in constant expression"));
        }
        Ok(Val { v: wrapped, ty })
    }

    /// An error in evaluated code; 0 in code that is not evaluated.
    fn dead_or(&self, live: bool, op: Token, what: &str, ty: IntTy) -> PResult<Val> {
        if live {
            Err(self.error(op, format!("{what} in constant expression")))
        } else {
            Ok(Val { v: 0, ty })
        }
    }

    fn unary(&mut self) -> PResult<Val> {
        let t = self.peek();
        match t.kind {
            Tok::P(p @ (P::Minus | P::Plus | P::Tilde | P::Bang)) => {
                self.bump();
                self.enter(t)?;
                let v = self.unary()?;
                self.leave();
                let live = self.unevaluated == 0;
                match p {
                    P::Minus => self.checked(-v.v, v.ty, live, t),
                    P::Plus => Ok(v),
                    P::Tilde => Ok(Val {
                        v: wrap(!v.v, v.ty),
                        ty: v.ty,
                    }),
                    _ => Ok(Val {
                        v: (v.v == 0) as i128,
                        ty: IntTy::Int,
                    }),
                }
            }
            Tok::P(P::LParen) => {
                let next = self.peek2();
                if self.starts_type(next) {
                    return self.cast();
                }
                self.bump();
                self.enter(t)?;
                let v = self.const_expr()?;
                self.expect(P::RParen, "expected ')'")?;
                self.leave();
                Ok(v)
            }
            Tok::Kw(Kw::Sizeof) => self.sizeof(),
            Tok::Number => {
                self.bump();
                self.number(t)
            }
            Tok::Char => {
                self.bump();
                self.char_constant(t)
            }
            Tok::Ident => {
                self.bump();
                let name = self.text(t);
                match self.ns().ordinary.get(name) {
                    Some(Symbol::Constant(c)) => Ok(c.value),
                    Some(Symbol::UnknownConstant) => Err(self.error(
                        t,
                        format!(
                            "the value of '{name}' is known only to the C compiler \
                             ('#define {name} ...')"
                        ),
                    )),
                    Some(other) => Err(self.error(
                        t,
                        format!(
                            "'{name}' is a {}, not an integer constant",
                            other.kind_name()
                        ),
                    )),
                    None => Err(self.error(t, format!("undeclared identifier '{name}'"))),
                }
            }
            Tok::P(P::Ellipsis) => Err(self.placeholder(t)),
            Tok::Str => Err(self.error(t, "a string literal is not an integer constant")),
            _ => Err(self.error(t, "expected an integer constant expression")),
        }
    }

    /// `(type) operand`, for integer types.
    fn cast(&mut self) -> PResult<Val> {
        let lparen = self.bump();
        self.enter(lparen)?;
        let ty = self.abstract_type()?;
        self.expect(P::RParen, "expected ')' after the type name")?;
        let v = self.unary()?;
        self.leave();
        convert_to(&ty.ty, v).ok_or_else(|| {
            self.error(
                lparen,
                format!("cast to '{}' in an integer constant expression", ty.ty),
            )
        })
    }

    /// `sizeof(type)`.
    fn sizeof(&mut self) -> PResult<Val> {
        let kw = self.bump();
        let lparen = self.peek();
        let next = self.peek2();
        if lparen.kind != Tok::P(P::LParen) || !self.starts_type(next) {
            return Err(self.error(
                lparen,
                "sizeof is supported only on a parenthesized type name",
            ));
        }
        self.bump();
        self.enter(lparen)?;
        let ty = self.abstract_type()?;
        self.expect(P::RParen, "expected ')' after the type name")?;
        self.leave();
        match ty.ty.size() {
            Ok(size) => Ok(Val {
                v: size as i128,
                ty: IntTy::ULong,
            }),
            Err(_) => Err(self.error(
                kw,
                format!(
                    "invalid application of 'sizeof' to incomplete type '{}'",
                    ty.ty
                ),
            )),
        }
    }

    /// An integer literal: value and C type.
    fn number(&self, t: Token) -> PResult<Val> {
        let text = self.text(t).as_bytes();
        let (radix, start): (u32, usize) = match text {
            [b'0', b'x' | b'X', ..] => (16, 2),
            [b'0', b'b' | b'B', ..] => (2, 2),
            [b'0', ..] => (8, 1),
            _ => (10, 0),
        };
        let float = text.contains(&b'.')
            || if radix == 16 {
                text.iter().any(|c| matches!(c, b'p' | b'P'))
            } else {
                text.iter().any(|c| matches!(c, b'e' | b'E'))
            };
        if float {
            return Err(self.error(t, "a floating constant is not an integer constant"));
        }
        let mut value: u128 = 0;
        let mut i = start;
        while let Some(&c) = text.get(i) {
            let Some(digit) = (c as char).to_digit(16) else {
                break;
            };
            if digit >= radix {
                if c.is_ascii_digit() {
                    let kind = if radix == 8 { "octal" } else { "binary" };
                    return Err(self.error(
                        t,
                        format!("invalid digit '{}' in {kind} constant", c as char),
                    ));
                }
                break; // the suffix
            }
            value = match value
                .checked_mul(radix as u128)
                .and_then(|v| v.checked_add(digit as u128))
            {
                Some(v) if v <= u64::MAX as u128 => v,
                _ => return Err(self.error(t, "integer constant is too large")),
            };
            i += 1;
        }
        if i == start && radix != 8 {
            return Err(self.error(t, format!("invalid integer constant '{}'", self.text(t))));
        }
        let Some((unsigned, longs)) = suffix(&text[i..]) else {
            return Err(self.error(
                t,
                format!(
                    "invalid suffix '{}' on integer constant",
                    String::from_utf8_lossy(&text[i..])
                ),
            ));
        };
        // C11 6.4.4.1: the first type of the list that holds the value.
        use IntTy::*;
        let candidates: &[IntTy] = match (radix == 10, unsigned, longs) {
            (_, true, 0) => &[UInt, ULong],
            (_, true, _) => &[ULong],
            (true, false, 0) => &[Int, Long, ULong],
            (true, false, _) => &[Long, ULong],
            (false, false, 0) => &[Int, UInt, Long, ULong],
            (false, false, _) => &[Long, ULong],
        };
        let v = value as i128;
        let ty = candidates
            .iter()
            .copied()
            .find(|&ty| wrap(v, ty) == v)
            .unwrap_or(ULong);
        Ok(Val { v, ty })
    }

    /// A character constant: `'a'`, `'\n'`, `'\x41'`, `L'x'`, `u'x'`,
    /// `U'x'`, `u8'x'`.
    fn char_constant(&self, t: Token) -> PResult<Val> {
        let text = self.text(t);
        let quote = text.find('\'').unwrap_or(0);
        let prefix = &text[..quote];
        let body = text
            .get(quote + 1..text.len().saturating_sub(1))
            .unwrap_or("");
        let mut chars = body.chars();
        let value: u32 = match chars.next() {
            None => return Err(self.error(t, "empty character constant")),
            Some('\\') => self.escape(&mut chars, t)?,
            Some(c) if prefix.is_empty() || prefix == "u8" => {
                if !c.is_ascii() {
                    return Err(self.error(t, "multi-character character constant"));
                }
                c as u32
            }
            Some(c) => c as u32,
        };
        if chars.next().is_some() {
            return Err(self.error(t, "multi-character character constant"));
        }
        let out_of_range = || self.error(t, "character constant out of range");
        let v = value as i128;
        Ok(match prefix {
            "" | "u8" => {
                if value > 0xff {
                    return Err(out_of_range());
                }
                let signed = prefix.is_empty() && Target::HOST.char_is_signed;
                Val {
                    v: wrap_bits(v, 8, signed),
                    ty: IntTy::Int,
                }
            }
            "u" => {
                if value > 0xffff {
                    return Err(out_of_range());
                }
                Val { v, ty: IntTy::Int }
            }
            "U" => Val { v, ty: IntTy::UInt },
            _ => {
                // L: wchar_t.
                let bits = Target::HOST.wchar_size as u32 * 8;
                let signed = Target::HOST.wchar_is_signed;
                Val {
                    v: wrap_bits(v, bits, signed),
                    ty: if signed { IntTy::Int } else { IntTy::UInt },
                }
            }
        })
    }

    /// The value of an escape sequence after its backslash.
    fn escape(&self, chars: &mut std::str::Chars<'_>, t: Token) -> PResult<u32> {
        let Some(c) = chars.next() else {
            return Err(self.error(t, "incomplete escape sequence"));
        };
        Ok(match c {
            'n' => 10,
            't' => 9,
            'r' => 13,
            'a' => 7,
            'b' => 8,
            'f' => 12,
            'v' => 11,
            'e' | 'E' => 27,
            '\\' | '\'' | '"' | '?' => c as u32,
            '0'..='7' => {
                let mut v = c as u32 - '0' as u32;
                for _ in 0..2 {
                    match chars.clone().next() {
                        Some(d @ '0'..='7') => {
                            chars.next();
                            v = v * 8 + (d as u32 - '0' as u32);
                        }
                        _ => break,
                    }
                }
                v
            }
            'x' | 'u' | 'U' => {
                let max_digits = match c {
                    'u' => 4,
                    'U' => 8,
                    _ => usize::MAX,
                };
                let mut v: u32 = 0;
                let mut digits = 0;
                while digits < max_digits {
                    let Some(d) = chars.clone().next().and_then(|d| d.to_digit(16)) else {
                        break;
                    };
                    chars.next();
                    v = match v.checked_mul(16) {
                        Some(v) => v + d,
                        None => return Err(self.error(t, "hex escape sequence out of range")),
                    };
                    digits += 1;
                }
                if digits == 0 || (c != 'x' && digits != max_digits) {
                    return Err(self.error(t, format!("incomplete '\\{c}' escape sequence")));
                }
                v
            }
            other => {
                return Err(self.error(t, format!("unknown escape sequence '\\{other}'")));
            }
        })
    }
}
