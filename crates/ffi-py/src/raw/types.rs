//! Raw types as Python objects: the scalars by width, `Struct` and `Array`.
//!
//! One naming scheme: a scalar is named by its width (`i8` ... `u64`,
//! `f32`, `f64`), plus `ptr`, `longdouble` and `void`. Wherever a type is
//! expected, its name (a `str`) is accepted too. C names (`int`, `long`,
//! `size_t`) are translated by [`c_type`] with ffi-raw's target table, so
//! platform facts stay in one place.

use ffi_raw::{ArrayType, CScalar, StructType, Type};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::ground::errors::raw_error;

/// Every scalar type (and void) by its raw name; also the module constants
/// (`raw.i32`, ...).
pub(crate) const SCALARS: [(&str, Type); 13] = [
    ("void", Type::Void),
    ("i8", Type::I8),
    ("u8", Type::U8),
    ("i16", Type::I16),
    ("u16", Type::U16),
    ("i32", Type::I32),
    ("u32", Type::U32),
    ("i64", Type::I64),
    ("u64", Type::U64),
    ("f32", Type::F32),
    ("f64", Type::F64),
    ("longdouble", Type::LongDouble),
    ("ptr", Type::Pointer),
];

/// The raw name of a type: `i32`, `ptr`, `struct {i8, f64}`, `u8[4]`.
pub(crate) fn type_name(ty: &Type) -> String {
    match ty {
        Type::Struct(s) => {
            let fields: Vec<String> = s.fields().iter().map(type_name).collect();
            format!("struct {{{}}}", fields.join(", "))
        }
        Type::Array(a) => format!("{}[{}]", type_name(a.element()), a.len()),
        scalar => SCALARS
            .iter()
            .find(|(_, t)| t == scalar)
            .map(|(name, _)| (*name).to_string())
            .unwrap_or_else(|| scalar.to_string()),
    }
}

fn scalar_by_name(name: &str) -> PyResult<Type> {
    if let Some((_, ty)) = SCALARS.iter().find(|(n, _)| *n == name) {
        return Ok(ty.clone());
    }
    let names: Vec<&str> = SCALARS.iter().map(|(n, _)| *n).collect();
    let hint = if c_scalar(name).is_some() {
        format!(" ('{name}' is a C name: raw.c_type('{name}') gives its raw type)")
    } else {
        String::new()
    };
    Err(PyValueError::new_err(format!(
        "unknown raw type '{name}'{hint}; the names are {}",
        names.join(", ")
    )))
}

/// A C scalar by its C spelling (`unsigned long`, `void *`), spaces
/// normalised.
fn c_scalar(name: &str) -> Option<CScalar> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = if name == "void*" { "void *" } else { &name };
    CScalar::ALL.into_iter().find(|s| s.c_name() == name)
}

/// A raw type: a scalar named by width, `ptr`, `longdouble` or `void`;
/// `Struct` and `Array` are its subclasses.
#[pyclass(name = "Type", module = "ffi_py.raw", frozen, subclass, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct RawType {
    pub(crate) ty: Type,
}

impl From<Type> for RawType {
    fn from(ty: Type) -> RawType {
        RawType { ty }
    }
}

#[pymethods]
impl RawType {
    /// The type of this name: `Type("i32") == raw.i32`.
    #[new]
    fn new(name: &str) -> PyResult<RawType> {
        scalar_by_name(name).map(RawType::from)
    }

    /// `sizeof`, in bytes.
    #[getter]
    fn size(&self) -> usize {
        self.ty.size()
    }

    /// `_Alignof`, in bytes.
    #[getter]
    fn alignment(&self) -> usize {
        self.ty.align()
    }

    #[getter]
    fn name(&self) -> String {
        type_name(&self.ty)
    }

    /// `"void"`, `"int"`, `"float"` (f32, f64, longdouble), `"pointer"`,
    /// `"struct"` or `"array"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match &self.ty {
            Type::Void => "void",
            Type::F32 | Type::F64 | Type::LongDouble => "float",
            Type::Pointer => "pointer",
            Type::Struct(_) => "struct",
            Type::Array(_) => "array",
            _ => "int",
        }
    }

    fn __repr__(&self) -> String {
        format!("<raw.Type {}>", type_name(&self.ty))
    }
}

/// A struct with the natural C layout of its fields.
#[pyclass(name = "Struct", module = "ffi_py.raw", extends = RawType, frozen)]
pub(crate) struct RawStruct {
    fields: Py<PyTuple>,
}

#[pymethods]
impl RawStruct {
    #[new]
    fn new(py: Python<'_>, fields: &Bound<'_, PyAny>) -> PyResult<PyClassInitializer<Self>> {
        let (types, objects) = types_and_objects(py, fields, "Struct() fields")?;
        let layout = StructType::new(types).map_err(|e| match e {
            ffi_raw::Error::EmptyStruct => {
                PyValueError::new_err("a raw.Struct needs at least one field")
            }
            ffi_raw::Error::Layout(message) => {
                PyValueError::new_err(format!("invalid raw.Struct: {message}"))
            }
            // Over isize::MAX bytes: an OverflowError.
            other => raw_error(other),
        })?;
        Ok(
            PyClassInitializer::from(RawType::from(Type::Struct(layout)))
                .add_subclass(RawStruct { fields: objects }),
        )
    }

    /// The field types, as given (names made into `Type` objects).
    #[getter]
    fn fields(&self, py: Python<'_>) -> Py<PyTuple> {
        self.fields.clone_ref(py)
    }

    /// The byte offset of each field.
    #[getter]
    fn offsets(slf: &Bound<'_, Self>) -> Vec<usize> {
        match &slf.as_super().get().ty {
            Type::Struct(s) => s.offsets().to_vec(),
            _ => unreachable!("a raw.Struct holds a struct type"),
        }
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let ty = &slf.as_super().get().ty;
        format!(
            "<raw.Struct {}: size {}, alignment {}>",
            type_name(ty),
            ty.size(),
            ty.align()
        )
    }
}

/// A fixed-length array, `item[length]`: a struct field (C passes arrays
/// to functions as pointers) or a unit of memory.
#[pyclass(name = "Array", module = "ffi_py.raw", extends = RawType, frozen)]
pub(crate) struct RawArray {
    item: Py<RawType>,
    length: usize,
}

#[pymethods]
impl RawArray {
    #[new]
    fn new(
        py: Python<'_>,
        item: &Bound<'_, PyAny>,
        length: &Bound<'_, PyAny>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let item = type_object(py, item)?;
        let length: isize = length.extract().map_err(|e: PyErr| {
            // An int past isize is an OverflowError, as the size it implies.
            if e.is_instance_of::<PyOverflowError>(py) {
                return PyOverflowError::new_err(format!(
                    "an array of {length} items is too large: sizes are limited to isize::MAX bytes"
                ));
            }
            PyTypeError::new_err(format!(
                "an array length must be an int, not {}",
                describe(length)
            ))
        })?;
        let length = usize::try_from(length).map_err(|_| {
            PyValueError::new_err(format!("an array length must be >= 0, not {length}"))
        })?;
        let ty = ArrayType::new(item.get().ty.clone(), length).map_err(|e| match e {
            ffi_raw::Error::Layout(message) => {
                PyValueError::new_err(format!("invalid raw.Array: {message}"))
            }
            other => raw_error(other),
        })?;
        Ok(PyClassInitializer::from(RawType::from(Type::Array(ty)))
            .add_subclass(RawArray { item, length }))
    }

    #[getter]
    fn item(&self, py: Python<'_>) -> Py<RawType> {
        self.item.clone_ref(py)
    }

    #[getter]
    fn length(&self) -> usize {
        self.length
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let ty = &slf.as_super().get().ty;
        format!("<raw.Array {}: size {}>", type_name(ty), ty.size())
    }
}

/// The raw type C's compiler uses for a C scalar type on this platform:
/// `c_type("long") == raw.i64` on x86-64 Linux. Accepts the C spelling
/// of every scalar (`unsigned long long`, `size_t`, `void *`, `_Bool`, ...)
/// and `void`.
#[pyfunction]
pub(crate) fn c_type(name: &str) -> PyResult<RawType> {
    if name.trim() == "void" {
        return Ok(RawType::from(Type::Void));
    }
    c_scalar(name)
        .map(|s| RawType::from(s.raw_type()))
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "'{name}' is not a C scalar type this layer knows (int, unsigned long, \
                 size_t, double, void *, ...)"
            ))
        })
}

/// A short description of an object for error messages: its type name.
pub(crate) fn describe(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The raw type `obj` stands for: a `Type` object or a type name.
pub(crate) fn type_of(obj: &Bound<'_, PyAny>) -> PyResult<Type> {
    if let Ok(t) = obj.cast::<RawType>() {
        return Ok(t.get().ty.clone());
    }
    if let Ok(name) = obj.cast::<PyString>() {
        return scalar_by_name(&name.to_cow()?);
    }
    Err(not_a_type(obj))
}

/// `obj` as a `Type` object (a name becomes a new object).
pub(crate) fn type_object(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Py<RawType>> {
    if let Ok(t) = obj.cast::<RawType>() {
        return Ok(t.clone().unbind());
    }
    Py::new(py, RawType::from(type_of(obj)?))
}

fn not_a_type(obj: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "expected a raw type (a raw.Type or a name such as 'i32'), not {}",
        describe(obj)
    ))
}

/// The types in a list or tuple, and the same as a tuple of `Type`
/// objects. A `str` is refused: its characters are not types.
pub(crate) fn types_and_objects(
    py: Python<'_>,
    seq: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<(Vec<Type>, Py<PyTuple>)> {
    if !(seq.is_instance_of::<PyList>() || seq.is_instance_of::<PyTuple>()) {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a list or tuple of raw types, not {}",
            describe(seq)
        )));
    }
    let mut types = Vec::new();
    let mut objects = Vec::new();
    for (i, item) in seq.try_iter()?.enumerate() {
        let object = type_object(py, &item?).map_err(|e| {
            let message = e.value(py).to_string();
            PyErr::from_type(e.get_type(py), format!("{what}[{i}]: {message}"))
        })?;
        types.push(object.get().ty.clone());
        objects.push(object);
    }
    Ok((types, PyTuple::new(py, objects)?.unbind()))
}
