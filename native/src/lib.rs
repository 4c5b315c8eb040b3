//! The native core of sipwatch: capture readers and packet decode for the common links.
//!
//! The pure-Python engine is the specification; every function here reproduces one of its
//! stages exactly (same frames, same timestamps, same counters, same problem facts), and the
//! Python test suite compares both engines byte for byte on every capture it has. The modules
//! are plain Rust, tested with `cargo test`; [`python`] (feature `python`) binds them as the
//! extension module `sipwatch._core`.

pub mod addr;
pub mod decode;
pub mod detect;
pub mod reader;
pub mod sipsplit;

#[cfg(feature = "python")]
mod python;
