//! Puts memory.x where the linker finds it, passes the linker scripts, and
//! provides the CYW43439 board NVRAM (`$OUT_DIR/nvram.bin`).
//!
//! The NVRAM (the Pico W's radio calibration, ~700 bytes of `key=value\0`
//! text) is not in the `cyw43-firmware` crate, so it comes from the file named
//! by the build-time env var `CYW43_NVRAM` (see README.md). With the feature
//! `placeholder-blobs` (CI) it may be missing: an empty placeholder is linked.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tlink-rp.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");

    println!("cargo:rerun-if-env-changed=CYW43_NVRAM");
    println!("cargo:rerun-if-env-changed=WIFI_SSID");
    println!("cargo:rerun-if-env-changed=WIFI_PASSWORD");
    let placeholder = env::var_os("CARGO_FEATURE_PLACEHOLDER_BLOBS").is_some();
    let nvram = match env::var_os("CYW43_NVRAM") {
        Some(path) if !placeholder => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&path).display());
            fs::read(&path)
                .unwrap_or_else(|e| panic!("CYW43_NVRAM={}: {e}", PathBuf::from(&path).display()))
        }
        _ if placeholder => Vec::new(),
        _ => panic!(
            "set CYW43_NVRAM to the Pico W's nvram_rp2040.bin (see README.md), \
             or build with --features placeholder-blobs (a build check only: no Wi-Fi)"
        ),
    };
    fs::write(out.join("nvram.bin"), nvram).expect("write nvram.bin");
}
