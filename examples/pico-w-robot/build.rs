//! Puts memory.x where the linker finds it, passes the linker scripts, and
//! provides the CYW43439 board NVRAM (`$OUT_DIR/nvram.bin`).
//!
//! The NVRAM (the Pico W's radio calibration, ~700 bytes of `key=value\0`
//! text) is not in the `cyw43-firmware` crate, so it comes from the file named
//! by the build-time env var `CYW43_NVRAM` (see README.md; `nvram.sh` fetches
//! it). It is checked here, so a wrong file fails the build, not the board:
//! NUL-separated `key=value` entries of printable ASCII, `manfid=` among them.
//! With the feature `placeholder-blobs` (CI) it may be missing: an empty
//! placeholder is linked.
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
            let shown = PathBuf::from(&path).display().to_string();
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("CYW43_NVRAM={shown}: {e}"));
            if let Err(why) = check_nvram(&bytes) {
                panic!(
                    "CYW43_NVRAM={shown} is not a CYW43439 NVRAM file: {why}. \
                     Use the Pico W's nvram_rp2040.bin (examples/pico-w-robot/nvram.sh fetches it)"
                );
            }
            bytes
        }
        _ if placeholder => Vec::new(),
        _ => panic!(
            "set CYW43_NVRAM to the Pico W's nvram_rp2040.bin (see README.md), \
             or build with --features placeholder-blobs (a build check only: no Wi-Fi)"
        ),
    };
    fs::write(out.join("nvram.bin"), nvram).expect("write nvram.bin");
}

/// Largest NVRAM accepted (the Pico W's is 742 bytes; the chip's RAM for it is small).
const MAX_NVRAM: usize = 4096;

/// An NVRAM image is `key=value` entries, each ended by a NUL, then NUL
/// padding: printable ASCII, a non-empty key, and `manfid=` present.
fn check_nvram(bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("it is empty".into());
    }
    if bytes.len() > MAX_NVRAM {
        return Err(format!("{} bytes, more than {MAX_NVRAM}", bytes.len()));
    }
    if bytes.last() != Some(&0) {
        return Err("it does not end with a NUL byte".into());
    }
    let mut keys = 0;
    let mut manfid = false;
    for (i, entry) in bytes.split(|&b| b == 0).enumerate() {
        if entry.is_empty() {
            continue; // padding at the end
        }
        if let Some(bad) = entry.iter().find(|&&b| !(0x20..0x7f).contains(&b)) {
            return Err(format!(
                "entry {i} has the byte {bad:#04x}, not printable ASCII"
            ));
        }
        let Some(eq) = entry.iter().position(|&b| b == b'=') else {
            return Err(format!(
                "entry {i} ({:?}) has no '='",
                String::from_utf8_lossy(entry)
            ));
        };
        if eq == 0 {
            return Err(format!("entry {i} has an empty key"));
        }
        manfid |= entry.starts_with(b"manfid=");
        keys += 1;
    }
    if !manfid {
        return Err(format!("no manfid= among its {keys} entries"));
    }
    Ok(())
}
