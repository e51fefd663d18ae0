//! Logging through `defmt` when the feature is on; nothing otherwise.

#[cfg(feature = "defmt")]
macro_rules! debug {
    ($($t:tt)*) => { defmt::debug!($($t)*) };
}

#[cfg(not(feature = "defmt"))]
macro_rules! debug {
    ($($t:tt)*) => {{}};
}

pub(crate) use debug;
