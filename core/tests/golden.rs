//! Golden tests: datagrams captured from a real Python networkzero 1.0b1
//! beacon (see tests/data/python-adverts/README.md for how they were made).
//! We must read every one, and our encoder must reproduce them byte for byte.

use std::net::SocketAddr;
use std::path::PathBuf;

use networkzero_core::advert;
use networkzero_core::Duration;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/python-adverts")
}

/// (file, expected name, address, ttl in ms or None for null).
fn manifest() -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(data_dir().join("MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let file = line.split('\t').next().unwrap().to_string();
            let bytes = std::fs::read(data_dir().join(&file)).unwrap();
            (file, bytes)
        })
        .collect()
}

/// What Python's `json.loads` makes of the datagram, computed independently
/// of our decoder: the expected values are written out here by hand.
fn expected(file: &str) -> (&'static str, Option<u64>) {
    match &file[..2] {
        "01" => ("echo", Some(20_000)),
        "02" => ("café-ü", Some(20_000)),
        "03" => ("ロボット", Some(20_000)),
        "04" => ("robot 🤖", Some(20_000)),
        "05" => ("chat/alice", Some(20_000)),
        "06" => ("say \"hi\"\\x", Some(20_000)),
        "07" => ("tab\there\nnewline\u{1}", Some(20_000)),
        "08" => ("", Some(20_000)),
        "09" => ("explicit", Some(20_000)),
        "10" => ("port-only", Some(20_000)),
        "11" => ("hostname", Some(20_000)),
        "12" => ("wildcard", Some(20_000)),
        "13" => ("ttl-0", Some(0)),
        "14" => ("ttl-1", Some(1_000)),
        "15" => ("ttl-86400", Some(86_400_000)),
        "16" => ("ttl-none", None),
        "17" => ("ttl-float", Some(2_500)),
        "18" => ("", Some(20_000)), // checked by prefix below
        other => panic!("unexpected capture {other}"),
    }
}

#[test]
fn decodes_every_python_datagram() {
    let all = manifest();
    assert_eq!(all.len(), 18);
    for (file, bytes) in &all {
        let advert = advert::decode(bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (name, ttl) = expected(file);
        if file.starts_with("18") {
            assert!(advert.name.starts_with("longest-"));
            assert_eq!(bytes.len(), 256);
        } else {
            assert_eq!(advert.name, name, "{file}");
        }
        assert_eq!(advert.ttl, ttl.map(Duration::from_millis), "{file}");
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(text.contains(&format!("\"{}\"", advert.address)), "{file}");
    }
    let hostname = all.iter().find(|(f, _)| f.starts_with("11")).unwrap();
    let a = advert::decode(&hostname.1).unwrap();
    assert_eq!(a.address, "127.0.0.1:5556".parse::<SocketAddr>().unwrap());
}

#[test]
fn our_encoder_reproduces_python_bytes_exactly() {
    let mut checked = 0;
    for (file, bytes) in manifest() {
        let a = advert::decode(&bytes).unwrap();
        // Python's ttl may be null or 2.5; ours is always whole seconds, and
        // we refuse empty names: those captures have nothing to reproduce.
        let Some(ttl) = a.ttl.filter(|t| t.as_millis() % 1000 == 0) else {
            continue;
        };
        if a.name.is_empty() {
            assert_eq!(
                advert::encode(&a.name, a.address, ttl, &mut [0; 256]),
                Err(advert::EncodeError::EmptyName)
            );
            continue;
        }
        let mut buf = [0u8; 256];
        let n = advert::encode(&a.name, a.address, ttl, &mut buf)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&buf[..n]),
            String::from_utf8_lossy(&bytes),
            "{file}"
        );
        checked += 1;
    }
    assert_eq!(checked, 15);
}

#[test]
fn one_byte_more_than_the_longest_python_advert_is_refused() {
    let (_, bytes) = manifest()
        .into_iter()
        .find(|(f, _)| f.starts_with("18"))
        .unwrap();
    let a = advert::decode(&bytes).unwrap();
    let longer = format!("{}x", a.name);
    assert_eq!(
        advert::encode(&longer, a.address, Duration::from_secs(20), &mut [0; 300]),
        Err(advert::EncodeError::TooLong { len: 257 })
    );
    let mut too_long = bytes.clone();
    too_long.insert(2, b'x');
    assert_eq!(advert::decode(&too_long), Err(advert::DecodeError::TooLong));
}
