//! The ZMTP wire parsers on raw bytes: greeting, frame, command, metadata.
#![no_main]

use libfuzzer_sys::fuzz_target;
use networkzero_core::zmtp::{Command, Frame, Greeting, GreetingRepr, Status};

fuzz_target!(|data: &[u8]| {
    let _ = GreetingRepr::parse(&Greeting::new_unchecked(data));
    let mut off = 0;
    for limit in [u64::MAX, 1 << 16, 0] {
        if let Ok(Status::Complete(f, n)) = Frame::parse(data.get(off..).unwrap_or(&[]), limit) {
            assert!(n <= data.len() - off);
            assert!(f.body.len() as u64 <= limit);
            if f.command {
                if let Ok(cmd) = Command::parse(f.body) {
                    if let Command::Ready(p) = cmd {
                        for (name, value) in p.iter() {
                            assert!(!name.is_empty() && name.len() <= 255);
                            let _ = value;
                        }
                    }
                    let mut out = vec![0u8; cmd.buffer_len()];
                    let m = cmd.emit(&mut out).unwrap();
                    assert_eq!(m, out.len());
                }
            }
            off += n;
        }
    }
    if let Ok(cmd) = Command::parse(data) {
        let mut out = vec![0u8; cmd.buffer_len()];
        let m = cmd.emit(&mut out).unwrap();
        // Re-parsing our encoding gives the same command (modulo truncation
        // of over-long ERROR reasons and PING contexts).
        if let Ok(again) = Command::parse(&out[..m]) {
            if !matches!(
                cmd,
                Command::Error(_) | Command::Ping { .. } | Command::Pong(_)
            ) {
                assert_eq!(again, cmd);
            }
        }
    }
});
