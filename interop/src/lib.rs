//! Interop tests of eseg against real strongSwan; the tests live in `tests/`.
