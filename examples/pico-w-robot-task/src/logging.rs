//! `info!` and `warn!` that go to defmt or to `log`, whichever feature is
//! on (to neither with no feature: the arguments are still evaluated).
//! Format strings use plain `{}`, which both understand; arguments
//! implement both `Display` and `defmt::Format`.

macro_rules! info {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(feature = "defmt")]
        defmt::info!($fmt $(, $arg)*);
        #[cfg(feature = "log")]
        log::info!($fmt $(, $arg)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        {
            $(let _ = &$arg;)*
        }
    }};
}

macro_rules! warn {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(feature = "defmt")]
        defmt::warn!($fmt $(, $arg)*);
        #[cfg(feature = "log")]
        log::warn!($fmt $(, $arg)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        {
            $(let _ = &$arg;)*
        }
    }};
}
