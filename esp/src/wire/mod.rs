//! ESP wire formats as typed views over byte buffers, in the style of smoltcp's `wire` module.
//!
//! [`EspHeader`] is the cleartext front of every ESP packet (SPI and low 32 bits of the sequence
//! number, <https://www.rfc-editor.org/rfc/rfc4303#section-2>); [`EspTrailer`] is the back of the
//! decrypted payload (padding, pad length, next header,
//! <https://www.rfc-editor.org/rfc/rfc4303#section-2.4>). Both are built with `new_checked`, after
//! which no accessor can panic; each has a `Repr` that parses and emits the fields.

mod header;
mod trailer;

pub use header::{EspHeader, EspHeaderRepr};
pub use trailer::{EspTrailer, EspTrailerRepr, NextHeader};
