//! The raw `AF_PACKET` socket, the one place in socketlab that calls libc directly.
//!
//! Safe wrappers exist for ordinary sockets, and nix reads a frame with its packet type and
//! receive time, but nothing safe binds a packet socket to an interface or attaches a classic
//! BPF program. Nor sets `IP_RECVERR`, which lets an unconnected UDP client hear an ICMP port
//! unreachable without the `connect()` the lesson's client never makes. Each call is small and
//! its safety argument sits beside it.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `htons(ETH_P_ALL)`: every protocol.
fn eth_p_all() -> u16 {
    (libc::ETH_P_ALL as u16).to_be()
}

/// Sets `IP_RECVERR` (or `IPV6_RECVERR`) on a UDP socket, so that an ICMP error about a
/// datagram it sent fails its next `recvfrom` even though the socket is not connected.
pub fn report_icmp_errors(fd: BorrowedFd<'_>, v6: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    let (level, name) =
        if v6 { (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) } else { (libc::IPPROTO_IP, libc::IP_RECVERR) };
    let len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is a live descriptor borrowed for the call; `on` is a c_int and `len` its size.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (&raw const on).cast(), len) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Opens a non-blocking packet socket bound to interface `name`.
pub fn open(name: &str) -> io::Result<OwnedFd> {
    let cname =
        CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a NUL byte"))?;
    // SAFETY: `cname` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain syscall with constant arguments; the result is checked below.
    let fd = unsafe {
        libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, i32::from(eth_p_all()))
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_ll is a valid value of this plain C struct.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = eth_p_all();
    addr.sll_ifindex = i32::try_from(index).map_err(|_| io::Error::other("interface index out of range"))?;
    let len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_ll and `len` is its size.
    let rc = unsafe { libc::bind(owned.as_raw_fd(), (&raw const addr).cast::<libc::sockaddr>(), len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

/// Attaches a classic BPF program so the kernel drops unwanted frames before copying them.
pub fn attach_filter(fd: &OwnedFd, program: &[super::bpf::Insn]) -> io::Result<()> {
    let mut insns: Vec<libc::sock_filter> =
        program.iter().map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k }).collect();
    let prog = libc::sock_fprog {
        len: u16::try_from(insns.len()).map_err(|_| io::Error::other("filter too long"))?,
        filter: insns.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `insns`, which outlives the call; the kernel copies the program.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const prog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens the packet socket, filters it to `ports` in the kernel, and registers it with the
/// tokio reactor.
pub fn open_async(name: &str, ports: &[u16]) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    let fd = open(name)?;
    attach_filter(&fd, &super::bpf::program(ports))?;
    // Each frame's receive time comes with the frame, as a control message of its `recvmsg`.
    nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::ReceiveTimestampns, &true)?;
    // SAFETY: the AsyncFd takes ownership of the OwnedFd, which stays open and refers to the
    // same socket until the AsyncFd drops it; OwnedFd::as_raw_fd always returns that same fd.
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

/// One received frame's facts.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    /// The frame's real length, when it was longer than the buffer.
    pub wire_len: usize,
    /// `PACKET_OUTGOING` frames are the sender's copy; on loopback each frame also arrives.
    pub outgoing: bool,
    /// The kernel's receive time, in nanoseconds since the Unix epoch.
    pub unix_ns: u64,
}

/// Room for the control message that carries a frame's receive time (`SCM_TIMESTAMPNS`).
pub fn control_buffer() -> Vec<u8> {
    nix::cmsg_space!(nix::sys::time::TimeSpec)
}

/// Reads one frame and its receive time in one `recvmsg` without blocking (`WouldBlock` when
/// there is none). `control` comes from [`control_buffer`].
pub fn recv(fd: &OwnedFd, buf: &mut [u8], control: &mut [u8]) -> io::Result<Received> {
    use nix::sys::socket::{ControlMessageOwned, LinkAddr, MsgFlags, recvmsg};
    let room = buf.len();
    let mut iov = [io::IoSliceMut::new(buf)];
    // MSG_TRUNC makes the returned length the frame's real one.
    let msg = recvmsg::<LinkAddr>(fd.as_raw_fd(), &mut iov, Some(control), MsgFlags::MSG_TRUNC)?;
    let wire_len = msg.bytes;
    let outgoing = msg.address.is_some_and(|a| a.pkttype() == libc::PACKET_OUTGOING);
    let stamp = msg.cmsgs().ok().and_then(|mut all| {
        all.find_map(|c| match c {
            ControlMessageOwned::ScmTimestampns(ts) => {
                Some(u64::try_from(ts.tv_sec()).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec()).unwrap_or(0))
            }
            _ => None,
        })
    });
    let unix_ns = stamp.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    Ok(Received { len: wire_len.min(room), wire_len, outgoing, unix_ns })
}
