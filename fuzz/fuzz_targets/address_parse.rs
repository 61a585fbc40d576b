//! Arbitrary text into `AddressSpec::parse`; a full socket address must
//! survive formatting and parsing again.
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use networkzero_core::address::{AddressSpec, HostSpec, MAX_HOST_LEN};

fuzz_target!(|text: &str| {
    let spec = match AddressSpec::parse(text) {
        Ok(spec) => spec,
        Err(e) => {
            assert_eq!(e.input, text);
            // The message must format without panicking.
            let _ = e.to_string();
            return;
        }
    };
    match spec.host {
        HostSpec::Name(n) => {
            assert!(!n.is_empty() && n.len() <= MAX_HOST_LEN);
            assert!(spec.needs_resolving());
        }
        HostSpec::Pattern(p) => assert!(networkzero_core::address::is_ipv4_pattern(p)),
        HostSpec::Any | HostSpec::Ip(_) => assert!(!spec.needs_resolving()),
    }
    if let Some(addr) = spec.socket_addr() {
        let mut again = String::new();
        write!(again, "{addr}").unwrap();
        let reparsed = AddressSpec::parse(&again)
            .unwrap_or_else(|e| panic!("{again:?} (from {text:?}) does not reparse: {e:?}"));
        assert_eq!(reparsed.socket_addr(), Some(addr), "{text:?} -> {again:?}");
        assert_eq!(reparsed, spec);
        // And the std parser agrees with what we print.
        assert_eq!(again.parse::<std::net::SocketAddr>().ok(), Some(addr));
    }
});
