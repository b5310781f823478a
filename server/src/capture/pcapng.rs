//! A minimal pcapng writer: one section, one Ethernet interface, one block per frame, with a
//! comment naming the exchange. Wireshark and tshark read it.

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Capture time in nanoseconds since the Unix epoch.
    pub unix_ns: u64,
    /// The frame as captured.
    pub data: Vec<u8>,
    /// The frame's length on the wire.
    pub wire_len: u32,
}

const LINKTYPE_ETHERNET: u16 = 1;

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out.resize(pad4(out.len()), 0);
}

fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let total = (12 + body.len()) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&total.to_le_bytes());
}

/// The whole file for `frames`, captured on `interface`, with `comment` on the section.
pub fn write(interface: &str, comment: &str, frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    // Section Header Block.
    let mut body = Vec::new();
    body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    option(&mut body, 1, comment.as_bytes());
    option(&mut body, 4, concat!("socketlab ", env!("CARGO_PKG_VERSION")).as_bytes());
    option(&mut body, 0, &[]);
    block(&mut out, 0x0A0D_0D0A, &body);
    // Interface Description Block, nanosecond timestamps.
    let mut body = Vec::new();
    body.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    option(&mut body, 2, interface.as_bytes());
    option(&mut body, 9, &[9]);
    option(&mut body, 0, &[]);
    block(&mut out, 1, &body);
    // Enhanced Packet Blocks.
    for f in frames {
        let mut body = Vec::with_capacity(20 + pad4(f.data.len()));
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&((f.unix_ns >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(f.unix_ns as u32).to_le_bytes());
        body.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
        body.extend_from_slice(&f.wire_len.to_le_bytes());
        body.extend_from_slice(&f.data);
        body.resize(pad4(body.len()), 0);
        block(&mut out, 6, &body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }

    #[test]
    fn blocks_are_framed_and_padded() {
        let frames = [Frame { unix_ns: 0x1_0000_0002, data: vec![1, 2, 3, 4, 5], wire_len: 5 }];
        let file = write("lo", "exchange x1", &frames);
        assert_eq!(file.len() % 4, 0);
        // Walk the blocks by their lengths: SHB, IDB, EPB, and nothing else.
        let mut kinds = Vec::new();
        let mut i = 0;
        while i < file.len() {
            let (kind, len) = (u32_at(&file, i), u32_at(&file, i + 4) as usize);
            assert_eq!(u32_at(&file, i + len - 4) as usize, len, "trailing length matches");
            kinds.push(kind);
            i += len;
        }
        assert_eq!(kinds, [0x0A0D_0D0A, 1, 6]);
        let epb = file.len() - 40;
        assert_eq!(u32_at(&file, epb + 12), 1, "timestamp high word");
        assert_eq!(u32_at(&file, epb + 16), 2, "timestamp low word");
        assert_eq!(&file[epb + 28..epb + 33], &[1, 2, 3, 4, 5]);
        assert!(file.windows(11).any(|w| w == b"exchange x1"));
    }
}
