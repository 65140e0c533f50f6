//! Calling declared C functions with [`Value`]s.

use std::ffi::c_void;
use std::sync::Arc;

use ffi_raw::{Cif, CodePtr, Symbol};

use crate::ctype::{CType, FunctionType};
use crate::error::{Error, Result};
use crate::memory::CBox;
use crate::value::Value;

/// A C function with its declared type, ready to call.
///
/// ```
/// use ffi_raw::Library;
/// use ffi_typed::{Declarations, Function, Value};
///
/// let mut decls = Declarations::new();
/// decls.parse("typedef struct { int quot; int rem; } div_t; div_t div(int, int);").unwrap();
/// let div = Function::new(decls.function("div").unwrap(), Library::this().symbol("div").unwrap()).unwrap();
/// // SAFETY: libc's `div` has exactly the declared type.
/// let r = unsafe { div.call(&[Value::Int(17), Value::Int(5)]) }.unwrap().unwrap();
/// assert_eq!(
///     r,
///     Value::Record(vec![(Some("quot".into()), Value::Int(3)), (Some("rem".into()), Value::Int(2))])
/// );
/// ```
#[derive(Debug)]
pub struct Function {
    ty: Arc<FunctionType>,
    /// `None` for a variadic function: each call shape gets its own.
    cif: Option<Cif>,
    code: CodePtr,
    /// Keeps the library loaded while the function may be called.
    _symbol: Option<Symbol>,
}

fn raw_types(types: &[CType]) -> Result<Vec<ffi_raw::Type>> {
    types.iter().map(CType::to_raw).collect()
}

/// The one place a C function type becomes a raw signature: what
/// [`Function`], ffi-py's call paths and its callbacks are built on.
impl FunctionType {
    /// The raw types of the parameters and of the result, as a call
    /// interface or a closure takes them.
    ///
    /// Fails if a parameter or the return type has no raw type (an
    /// incomplete record, an array or `void` parameter).
    pub fn raw_signature(&self) -> Result<(Vec<ffi_raw::Type>, ffi_raw::Type)> {
        Ok((raw_types(&self.params)?, self.ret.to_raw()?))
    }

    /// A call interface for this type's fixed parameters; for a variadic
    /// function, see [`FunctionType::variadic_cif`].
    ///
    /// Fails as [`FunctionType::raw_signature`] does, or with
    /// [`Error::Raw`] when libffi cannot pass a parameter or the result
    /// (an aggregate it cannot describe).
    pub fn cif(&self) -> Result<Cif> {
        let (params, ret) = self.raw_signature()?;
        Ok(Cif::new(params, ret)?)
    }

    /// A call interface for one call of this variadic function, whose
    /// `...` arguments have the types `extra` (C's default promotions are
    /// applied by the raw layer).
    pub fn variadic_cif(&self, extra: &[CType]) -> Result<Cif> {
        let (params, ret) = self.raw_signature()?;
        Ok(Cif::new_variadic(params, raw_types(extra)?, ret)?)
    }
}

impl Function {
    /// The function at `symbol`, declared as `ty`.
    ///
    /// Fails if a parameter or the return type cannot be passed by value
    /// (an incomplete type, or an aggregate libffi cannot describe).
    pub fn new(ty: Arc<FunctionType>, symbol: Symbol) -> Result<Function> {
        let code = symbol.code_ptr();
        Function::build(ty, code, Some(symbol))
    }

    /// The function at a raw code address.
    ///
    /// # Safety
    /// `code` must stay a valid function of type `ty` while this lives.
    pub unsafe fn from_code_ptr(ty: Arc<FunctionType>, code: CodePtr) -> Result<Function> {
        Function::build(ty, code, None)
    }

    fn build(ty: Arc<FunctionType>, code: CodePtr, symbol: Option<Symbol>) -> Result<Function> {
        let cif = if ty.variadic { None } else { Some(ty.cif()?) };
        Ok(Function {
            ty,
            cif,
            code,
            _symbol: symbol,
        })
    }

    /// The declared type.
    pub fn ty(&self) -> &Arc<FunctionType> {
        &self.ty
    }

    /// Calls with one value per declared parameter; returns `None` for a
    /// `void` function.
    ///
    /// # Safety
    /// The function must really have the declared type, and the arguments
    /// must satisfy whatever it requires (valid pointers, ...).
    pub unsafe fn call(&self, args: &[Value]) -> Result<Option<Value>> {
        // SAFETY: forwarded.
        unsafe { self.call_variadic(args, &[]) }
    }

    /// Calls a variadic function: `fixed` for the declared parameters,
    /// `extra` the `...` arguments with the C types they are passed as
    /// (`float`, `char` and `short` get C's default promotions).
    ///
    /// # Safety
    /// As for [`Function::call`].
    ///
    /// ```
    /// use ffi_raw::{CScalar, Library};
    /// use ffi_typed::{CBox, CType, Declarations, Function, Value};
    ///
    /// let mut decls = Declarations::new();
    /// decls.parse("int snprintf(char *buf, size_t size, const char *format, ...);").unwrap();
    /// let snprintf = Function::new(
    ///     decls.function("snprintf").unwrap(),
    ///     Library::this().symbol("snprintf").unwrap(),
    /// )
    /// .unwrap();
    /// let buf = CBox::new(decls.parse_type("char[32]").unwrap()).unwrap();
    /// let format = c"%d/%.1f";
    /// // SAFETY: snprintf's declared type is libc's; the buffer holds 32
    /// // bytes and the format's conversions match the extra arguments.
    /// let n = unsafe {
    ///     snprintf.call_variadic(
    ///         &[
    ///             Value::Pointer(buf.as_ptr() as usize),
    ///             Value::Int(32),
    ///             Value::Pointer(format.as_ptr() as usize),
    ///         ],
    ///         &[
    ///             (CType::Scalar(CScalar::Int), Value::Int(7)),
    ///             (CType::Scalar(CScalar::Float), Value::Float(2.5)),
    ///         ],
    ///     )
    /// }
    /// .unwrap();
    /// assert_eq!(n, Some(Value::Int(5)));
    /// assert_eq!(buf.view().string().unwrap(), b"7/2.5");
    /// ```
    pub unsafe fn call_variadic(
        &self,
        fixed: &[Value],
        extra: &[(CType, Value)],
    ) -> Result<Option<Value>> {
        let params = &self.ty.params;
        if fixed.len() != params.len() {
            return Err(Error::Value(format!(
                "{} takes {} argument{}, {} given",
                CType::Function(self.ty.clone()),
                params.len(),
                if params.len() == 1 { "" } else { "s" },
                fixed.len()
            )));
        }
        if !extra.is_empty() && !self.ty.variadic {
            return Err(Error::Value(format!(
                "{} is not variadic: {} extra argument(s) given",
                CType::Function(self.ty.clone()),
                extra.len()
            )));
        }
        let types: Vec<&CType> = params.iter().chain(extra.iter().map(|(t, _)| t)).collect();
        let values: Vec<&Value> = fixed.iter().chain(extra.iter().map(|(_, v)| v)).collect();
        let mut slots = Vec::with_capacity(types.len());
        for (i, (ty, value)) in types.iter().zip(&values).enumerate() {
            let slot = CBox::with_value((*ty).clone(), value).map_err(|e| Error::Argument {
                index: i,
                source: Box::new(e),
            })?;
            slots.push(slot);
        }
        let ptrs: Vec<*const c_void> = slots.iter().map(|s| s.as_ptr().cast_const()).collect();
        let ret_ty = &self.ty.ret;
        let ret = match ret_ty {
            CType::Void => None,
            ty => Some(CBox::new(ty.clone())?),
        };
        let shaped;
        let cif = match &self.cif {
            Some(cif) => cif,
            None => {
                let extra_types: Vec<CType> = extra.iter().map(|(t, _)| t.clone()).collect();
                shaped = self.ty.variadic_cif(&extra_types)?;
                &shaped
            }
        };
        let ret_ptr = ret.as_ref().map_or(std::ptr::null_mut(), CBox::as_ptr);
        // SAFETY: the signature is the declared one (caller's contract);
        // each pointer refers to a CBox holding a value of its parameter's
        // type; the return box (if any) has the return type's size and
        // alignment, and `void` returns write nothing.
        unsafe { cif.call(self.code, &ptrs, ret_ptr)? };
        ret.map(|b| b.view().read()).transpose()
    }
}
