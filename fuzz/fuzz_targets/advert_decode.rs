//! Arbitrary bytes into `advert::decode`; whatever decodes must survive a
//! round trip through `advert::encode` (what our beacon sends Python).
#![no_main]

use libfuzzer_sys::fuzz_target;
use networkzero_core::advert::{self, MAX_DATAGRAM};
use networkzero_core::Duration;

/// The ttl a beacon sends by default (Python: 20 s).
const DEFAULT_TTL: Duration = Duration::from_secs(20);

fuzz_target!(|data: &[u8]| {
    let Ok(first) = advert::decode(data) else {
        return;
    };
    assert!(
        data.len() <= MAX_DATAGRAM,
        "decoded a {}-byte advert",
        data.len()
    );

    let ttl = first.ttl.unwrap_or(DEFAULT_TTL);
    let mut buf = [0u8; MAX_DATAGRAM + 16];
    let expected = advert::encoded_len(&first.name, first.address, ttl);
    match advert::encode(&first.name, first.address, ttl, &mut buf) {
        Ok(n) => {
            assert_eq!(n, expected, "encoded_len disagrees with encode");
            assert!(n <= MAX_DATAGRAM, "encode made a {n}-byte advert");
            let second = advert::decode(&buf[..n]).unwrap_or_else(|e| {
                panic!(
                    "our own advert does not decode ({e:?}): {:?}",
                    String::from_utf8_lossy(&buf[..n])
                )
            });
            assert_eq!(second.name, first.name);
            assert_eq!(second.address, first.address);
            // Written to the millisecond (`2.500`), the resolution of core's Duration.
            assert_eq!(second.ttl, Some(ttl));
            // Encoding is canonical: a second trip gives the same bytes.
            let mut again = [0u8; MAX_DATAGRAM + 16];
            let m = advert::encode(&second.name, second.address, ttl, &mut again)
                .expect("re-encoding an encodable advert");
            assert_eq!(&buf[..n], &again[..m]);
        }
        // Raw UTF-8 in, \u escapes out: the name may no longer fit. That is
        // refused, never truncated.
        Err(advert::EncodeError::TooLong { len }) => {
            assert_eq!(len, expected);
            assert!(len > MAX_DATAGRAM);
        }
        // Python advertises "" and we accept it, but never send it.
        Err(advert::EncodeError::EmptyName) => assert!(first.name.is_empty()),
        Err(e) => panic!("encode refused a decoded advert: {e:?}"),
    }
});
