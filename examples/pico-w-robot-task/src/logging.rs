//! `info!` and `warn!` that go to defmt or to `log`, whichever feature is
//! on. Format strings use plain `{}`, which both understand; arguments
//! implement both `Display` and `defmt::Format`.

macro_rules! info {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::info!($($arg)*);
        #[cfg(feature = "log")]
        log::info!($($arg)*);
    }};
}

macro_rules! warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::warn!($($arg)*);
        #[cfg(feature = "log")]
        log::warn!($($arg)*);
    }};
}
