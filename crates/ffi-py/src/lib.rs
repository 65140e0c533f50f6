//! The Python layer (a pyo3 extension), built on `ffi-typed` and `ffi-raw`.
//!
//! This crate is a placeholder until its issue lands; see `docs/architecture.md`.
