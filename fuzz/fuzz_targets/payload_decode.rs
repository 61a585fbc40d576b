//! Arbitrary bytes into `payload::decode` for a few typed shapes (JSON and
//! postcard), and into `check_depth`.
#![no_main]

use heapless::{String, Vec};
use libfuzzer_sys::fuzz_target;
use networkzero_core::payload::{
    self, check_depth, Base64Buf, Format, PayloadError, POSTCARD_TAG,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Hit {
    target: u8,
    score: i32,
    who: String<16>,
    tags: Vec<String<8>, 4>,
    extra: Option<bool>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Command {
    Stop,
    Move { x: f32, y: f32 },
    Say(String<32>),
}

/// Decodes as `T`; when that works, encodes the value again in both formats
/// and checks it decodes to the same value.
fn check<T>(data: &[u8], scratch: &mut [u8])
where
    T: serde::de::DeserializeOwned + Serialize + PartialEq + core::fmt::Debug,
{
    let Ok(value) = payload::decode::<T>(data, scratch) else {
        return;
    };
    for format in [Format::Json, Format::Postcard] {
        let mut buf = [0u8; 1024];
        let n = match payload::encode(&value, format, &mut buf) {
            Ok(n) => n,
            // f32 NaN/inf have no JSON form; serde-json-core writes null.
            Err(PayloadError::BufferFull) => continue,
            Err(e) => panic!("{e:?} encoding {value:?}"),
        };
        assert_eq!(Format::of(&buf[..n]), format);
        let mut scratch2 = [0u8; 256];
        match payload::decode::<T>(&buf[..n], &mut scratch2) {
            Ok(back) => {
                // NaN != NaN; compare through the JSON text instead.
                if back != value {
                    let mut a = [0u8; 1024];
                    let mut b = [0u8; 1024];
                    let na = payload::encode(&value, Format::Json, &mut a).unwrap();
                    let nb = payload::encode(&back, Format::Json, &mut b).unwrap();
                    assert_eq!(&a[..na], &b[..nb], "{value:?} came back as {back:?}");
                }
            }
            // A float that JSON cannot carry (NaN) comes back as null.
            Err(PayloadError::Malformed) if format == Format::Json => {}
            Err(e) => panic!("{e:?} decoding our own {format:?} of {value:?}: {:?}", &buf[..n]),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let depth = check_depth(data);
    if data.first() != Some(&POSTCARD_TAG) {
        // JSON deeper than payload::MAX_DEPTH is refused before serde runs.
        if depth == Err(PayloadError::TooDeep) {
            let mut scratch = [0u8; 64];
            assert_eq!(
                payload::decode::<u8>(data, &mut scratch),
                Err(PayloadError::TooDeep)
            );
        }
    }

    // Scratch sizes that are both too small and large enough.
    let mut small = [0u8; 4];
    let mut large = [0u8; 256];
    for scratch in [&mut small[..], &mut large[..]] {
        check::<Hit>(data, scratch);
        check::<(u8, String<8>, bool)>(data, scratch);
        check::<Option<i64>>(data, scratch);
        check::<Command>(data, scratch);
        check::<Vec<Option<i64>, 8>>(data, scratch);
        let _ = payload::decode::<Base64Buf<16>>(data, scratch);
        let _ = payload::decode::<Base64Buf<0>>(data, scratch);
    }
    // Base64 text straight in, as Python's string_to_bytes would get it.
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(b) = Base64Buf::<64>::from_text(text) {
            assert!(b.0.len() <= 64);
            let mut out = [0u8; 256];
            let n = payload::encode(&payload::Base64(&b.0), Format::Json, &mut out).unwrap();
            let back: Base64Buf<64> = payload::decode(&out[..n], &mut []).unwrap();
            assert_eq!(back, b);
        }
    }
});
