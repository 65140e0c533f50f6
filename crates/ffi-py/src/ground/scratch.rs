//! Buffers whose size a C type decides (a value converted before it is
//! written, a return value, a callback's default result): that size comes
//! from the user and may be far more than memory, so they are allocated
//! fallibly, and failing is a MemoryError rather than an abort.

use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;

/// `len` default items (zeros), or a MemoryError.
pub(crate) fn zeroed_vec<T: Clone + Default>(len: usize) -> PyResult<Vec<T>> {
    let mut items = Vec::new();
    items.try_reserve_exact(len).map_err(|_| {
        PyMemoryError::new_err(format!(
            "cannot allocate {len} items of {} bytes",
            size_of::<T>()
        ))
    })?;
    items.resize(len, T::default());
    Ok(items)
}
