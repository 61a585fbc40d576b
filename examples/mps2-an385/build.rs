//! Puts memory.x where the linker (cortex-m-rt's link.x) finds it; for the
//! keyed build (feature `curve`), writes a build-time seed for the firmware's
//! stand-in entropy (QEMU has no entropy source: see src/main.rs).
use std::io::Read;
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-env-changed=NW0_CLASS_KEY");
    let mut seed = [0u8; 32];
    if env::var_os("CARGO_FEATURE_CURVE").is_some() {
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .expect("read /dev/urandom for the build-time seed");
    }
    fs::write(out.join("seed.bin"), seed).expect("write seed.bin");
}
