//! End-to-end tests of eseg; the tests live in `tests/`.
