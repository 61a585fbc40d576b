//! The CurveZMQ command parser on arbitrary bytes: never panics, and what it
//! accepts has the sizes 26/CURVEZMQ fixes (HELLO exactly 200 with zero
//! padding, WELCOME 168, INITIATE ≥ 257, READY ≥ 30, MESSAGE ≥ 33).
#![no_main]

use libfuzzer_sys::fuzz_target;
use networkzero_core::zmtp::curve::wire::{hello, CurveCommand};
use networkzero_core::zmtp::ZmtpError;

fuzz_target!(|body: &[u8]| {
    match CurveCommand::parse(body) {
        Ok(CurveCommand::Hello(h)) => {
            assert_eq!(body.len(), 200);
            assert!(body[hello::PADDING].iter().all(|&b| b == 0));
            assert_eq!(&body[hello::CLIENT], &h.client.0);
        }
        Ok(CurveCommand::Welcome(_)) => assert_eq!(body.len(), 168),
        Ok(CurveCommand::Initiate(_)) => assert!(body.len() >= 257),
        Ok(CurveCommand::Ready(_)) => assert!(body.len() >= 30),
        Ok(CurveCommand::Message(_)) => assert!(body.len() >= 33),
        Ok(CurveCommand::Error(reason)) => assert!(reason.len() + 7 <= body.len()),
        Ok(_) => {}
        Err(e) => assert!(matches!(
            e,
            ZmtpError::MalformedCurve | ZmtpError::UnexpectedFrame
        )),
    }
});
