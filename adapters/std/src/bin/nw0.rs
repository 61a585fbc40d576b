//! `nw0`: networkzero from the command line.
fn main() {
    eprintln!("nw0: not yet");
    std::process::exit(2);
}
