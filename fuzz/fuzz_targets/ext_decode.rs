//! Arbitrary bytes into `ext::decode` (queries, answers, goodbyes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use networkzero_core::advert::{self, MAX_NAME};
use networkzero_core::ext::{self, ExtError, Message, HEADER_LEN, MAX_EXT_DATAGRAM};

fuzz_target!(|data: &[u8]| {
    let decoded = ext::decode(data);
    if !ext::is_extension(data) {
        assert_eq!(decoded, Err(ExtError::NotExtension));
        return;
    }
    match decoded {
        Ok(Message::Query(name)) => {
            assert!(name.len() <= MAX_NAME);
            // A query re-encodes to exactly the bytes received.
            let mut buf = [0u8; MAX_EXT_DATAGRAM];
            let n = ext::encode_query(&name, &mut buf).expect("a decoded query re-encodes");
            assert_eq!(&buf[..n], data);
        }
        Ok(Message::Answer(a)) | Ok(Message::Goodbye(a)) => {
            // The body is exactly a Python advert.
            assert!(data.len() <= MAX_EXT_DATAGRAM);
            assert_eq!(advert::decode(&data[HEADER_LEN..]), Ok(a));
        }
        Err(_) => {}
    }
});
