//! The typed layer: a C type model with layouts identical to the platform C
//! compiler, typed memory and a declaration parser, built on [`ffi_raw`].
//!
//! This crate is a placeholder until its issue lands; see `docs/architecture.md`.
