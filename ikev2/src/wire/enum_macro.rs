//! The `open_enum!` macro: IANA registries as Rust enums that keep unknown code points.
//!
//! IKEv2 peers send code points we do not know (new notify types, private-use transforms,
//! vendor payloads). Parsing must not fail on them: RFC 7296 §2.5 wants unknown payloads
//! skipped unless critical, unknown notify status types ignored, and unknown transforms
//! rejected only by proposal selection. Each registry is therefore an enum with one variant per
//! known value and `Unknown(raw)` for the rest, in the style of smoltcp's `enum_with_unknown!`.
//! Conversion both ways is lossless: `u8::from(T::from(x)) == x` for every `x`.

/// Declares an enum over an integer type with a catch-all `Unknown` variant and lossless
/// `From` conversions in both directions.
macro_rules! open_enum {
    (
        $(#[$enum_meta:meta])*
        pub enum $name:ident($repr:ty) {
            $( $(#[$variant_meta:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$enum_meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
            /// A code point this implementation does not know, kept as received.
            Unknown($repr),
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => Self::$variant, )+
                    other => Self::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

pub(crate) use open_enum;
