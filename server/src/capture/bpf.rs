//! The kernel-side filter: a classic BPF program that lets through only IPv4 TCP and UDP with a
//! hosted port at either end, and ICMP (whose quoted ports user space checks). Without it, the
//! capture would copy every loopback frame, the gateway's own WebSocket traffic included, into
//! user space just to drop it there.

/// One instruction: (code, jump if true, jump if false, constant), as in `struct sock_filter`.
pub type Insn = (u16, u8, u8, u32);

const LDH_ABS: u16 = 0x28;
const LDB_ABS: u16 = 0x30;
const LDH_IND: u16 = 0x48;
const LDXB_MSH: u16 = 0xb1;
const JEQ: u16 = 0x15;
const JSET: u16 = 0x45;
const RET: u16 = 0x06;

const ETH_HLEN: u32 = 14;
const KEEP: u32 = 262_144;

/// The filter for frames with an Ethernet header (as loopback has).
pub fn program(ports: &[u16]) -> Vec<Insn> {
    let mut ports: Vec<u16> = ports.to_vec();
    ports.sort_unstable();
    ports.dedup();
    let n = ports.len();
    // Instruction indexes of the two exits, so jumps can be computed.
    let drop = 11 + 2 * n;
    let keep = drop + 1;
    let to = |from: usize, target: usize| u8::try_from(target - from - 1).unwrap_or(u8::MAX);
    let mut p: Vec<Insn> = vec![
        (LDH_ABS, 0, 0, 12),
        (JEQ, 0, to(1, drop), 0x0800),
        (LDB_ABS, 0, 0, ETH_HLEN + 9),
        (JEQ, to(3, keep), 0, 1),
        (JEQ, to(4, 6), 0, 6),
        (JEQ, 0, to(5, drop), 17),
        (LDH_ABS, 0, 0, ETH_HLEN + 6),
        (JSET, to(7, drop), 0, 0x1fff),
        (LDXB_MSH, 0, 0, ETH_HLEN),
        (LDH_IND, 0, 0, ETH_HLEN),
    ];
    for (i, port) in ports.iter().enumerate() {
        p.push((JEQ, to(10 + i, keep), 0, u32::from(*port)));
    }
    p.push((LDH_IND, 0, 0, ETH_HLEN + 2));
    for (i, port) in ports.iter().enumerate() {
        p.push((JEQ, to(11 + n + i, keep), 0, u32::from(*port)));
    }
    p.push((RET, 0, 0, 0));
    p.push((RET, 0, 0, KEEP));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Icmpv4Type, PacketBuilder, icmpv4};

    /// Runs the few classic BPF instructions the program uses, as the kernel would.
    fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |i: usize| pkt.get(i).copied().map(u32::from);
        let half = |i: usize| Some(u32::from(u16::from_be_bytes([*pkt.get(i)?, *pkt.get(i + 1)?])));
        loop {
            let (code, jt, jf, k) = prog[pc];
            pc += 1;
            let jump = |cond: bool| if cond { usize::from(jt) } else { usize::from(jf) };
            match code {
                LDH_ABS => match half(k as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LDB_ABS => match byte(k as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LDH_IND => match half((x + k) as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LDXB_MSH => match byte(k as usize) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                JEQ => pc += jump(a == k),
                JSET => pc += jump(a & k != 0),
                RET => return k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn udp(src: u16, dst: u16) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .udp(src, dst)
            .write(&mut out, b"hi")
            .expect("builds");
        out
    }

    fn tcp(src: u16, dst: u16) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(src, dst, 1, 100)
            .syn()
            .write(&mut out, b"")
            .expect("builds");
        out
    }

    #[test]
    fn keeps_hosted_ports_and_icmp_and_drops_the_rest() {
        let prog = program(&[12000, 12001, 40000, 12000]);
        assert_eq!(prog.len(), 11 + 2 * 3 + 2, "duplicate ports are checked once");
        assert_eq!(run(&prog, &udp(5555, 12000)), KEEP);
        assert_eq!(run(&prog, &udp(12000, 5555)), KEEP);
        assert_eq!(run(&prog, &tcp(5555, 12001)), KEEP);
        assert_eq!(run(&prog, &tcp(40000, 5555)), KEEP);
        assert_eq!(run(&prog, &tcp(5555, 8080)), 0, "the gateway's own HTTP traffic");
        assert_eq!(run(&prog, &udp(5353, 5353)), 0);
        let mut icmp = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port))
            .write(&mut icmp, &udp(5555, 40000)[14..42])
            .expect("builds");
        assert_eq!(run(&prog, &icmp), KEEP);
        let mut arp = udp(5555, 12000);
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(run(&prog, &arp), 0, "not IPv4");
        assert_eq!(run(&prog, &[0u8; 10]), 0, "too short");
    }
}
