//! What a ZMTP peer sends first, for the fuzz targets that want to get
//! past the handshake: a 3.x greeting with the NULL mechanism, then READY
//! with its socket type.

/// A peer's greeting (minor version `minor`) and READY as `peer` ("REQ"…).
pub fn hello(minor: u8, peer: &str) -> Vec<u8> {
    let mut v = vec![0u8; 64];
    v[0] = 0xFF;
    v[8] = 1;
    v[9] = 0x7F;
    v[10] = 3;
    v[11] = minor;
    v[12..16].copy_from_slice(b"NULL");
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&(peer.len() as u32).to_be_bytes());
    body.extend_from_slice(peer.as_bytes());
    v.push(0x04);
    v.push(body.len() as u8);
    v.extend(body);
    v
}
