//! The pcapng export, written with `pcap-file`: one section, one Ethernet interface with
//! nanosecond timestamps, one Enhanced Packet Block per frame, and a comment naming the
//! exchange. Wireshark and tshark read it.
//!
//! pcapng options carry a 16-bit length, and `pcap-file` casts longer values down without a
//! word, which would corrupt the file; [`fit`] cuts every text option to fit first.

use std::borrow::Cow;
use std::time::Duration;

use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::{DataLink, Endianness};

pub use pcap_file::PcapError;

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

/// The longest value a pcapng option can carry.
pub const MAX_OPTION_BYTES: usize = u16::MAX as usize;

/// `text` cut, at a character boundary, to fit in one option.
pub fn fit(text: &str) -> String {
    let mut end = text.len().min(MAX_OPTION_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The whole file for `frames`, captured on `interface`, with `comment` on the section.
///
/// Fails only as `pcap-file` can: the one interface is declared before any packet and the
/// writer is a `Vec`, so neither of its errors is expected.
pub fn write(interface: &str, comment: &str, frames: &[Frame]) -> Result<Vec<u8>, PcapError> {
    let section = SectionHeaderBlock {
        endianness: Endianness::Little,
        options: vec![
            SectionHeaderOption::Comment(Cow::Owned(fit(comment))),
            SectionHeaderOption::UserApplication(Cow::Borrowed(concat!("socketlab ", env!("CARGO_PKG_VERSION")))),
        ],
        ..SectionHeaderBlock::default()
    };
    let mut writer = PcapNgWriter::with_section_header(Vec::new(), section)?;
    writer.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![
            InterfaceDescriptionOption::IfName(Cow::Owned(fit(interface))),
            // Timestamps in nanoseconds (10^-9 s).
            InterfaceDescriptionOption::IfTsResol(9),
        ],
    })?;
    for f in frames {
        writer.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_nanos(f.unix_ns),
            original_len: f.wire_len,
            data: Cow::Borrowed(&f.data),
            options: Vec::new(),
        })?;
    }
    Ok(writer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }

    /// Walks the blocks by their lengths, checking each trailing length.
    fn kinds(file: &[u8]) -> Vec<u32> {
        let mut kinds = Vec::new();
        let mut i = 0;
        while i < file.len() {
            let (kind, len) = (u32_at(file, i), u32_at(file, i + 4) as usize);
            assert!(len >= 12 && len % 4 == 0 && i + len <= file.len(), "block length {len} at {i}");
            assert_eq!(u32_at(file, i + len - 4) as usize, len, "trailing length matches");
            kinds.push(kind);
            i += len;
        }
        kinds
    }

    #[test]
    fn blocks_are_framed_and_padded() {
        let frames = [Frame { unix_ns: 0x1_0000_0002, data: vec![1, 2, 3, 4, 5], wire_len: 5 }];
        let file = write("lo", "exchange x1", &frames).expect("written");
        assert_eq!(file.len() % 4, 0);
        assert_eq!(kinds(&file), [0x0A0D_0D0A, 1, 6], "SHB, IDB, EPB and nothing else");
        let epb = file.len() - 40;
        assert_eq!(u32_at(&file, epb + 12), 1, "timestamp high word");
        assert_eq!(u32_at(&file, epb + 16), 2, "timestamp low word");
        assert_eq!(&file[epb + 28..epb + 33], &[1, 2, 3, 4, 5]);
        assert!(file.windows(11).any(|w| w == b"exchange x1"));
    }

    #[test]
    fn an_option_longer_than_u16_is_cut_to_fit_and_the_file_stays_well_formed() {
        // 70,000 bytes of two-byte characters: a 16-bit length would wrap to 4,464.
        let comment = "é".repeat(35_000);
        let file = write(&"i".repeat(70_000), &comment, &[]).expect("written");
        assert_eq!(kinds(&file), [0x0A0D_0D0A, 1]);
        // The section's first option is the comment: code 1, then its length.
        assert_eq!(u16::from_le_bytes([file[24], file[25]]), 1, "opt_comment");
        let len = u16::from_le_bytes([file[26], file[27]]);
        assert_eq!(usize::from(len), 65_534, "cut at the last whole character that fits");
        assert!(std::str::from_utf8(&file[28..28 + 65_534]).is_ok());
        assert_eq!(fit("abc"), "abc");
        assert_eq!(fit(&"a".repeat(70_000)).len(), MAX_OPTION_BYTES);
    }
}
