//! The few Linux calls a media shard makes that std does not offer: an epoll set over many UDP
//! sockets, `recvmmsg` to drain a socket in one call, `sendmmsg` to send a batch from one
//! socket. Thin, safe wrappers; nothing else.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An epoll set (level-triggered, read readiness).
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new(capacity: usize) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes flags only; a negative result is an error.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a new descriptor we own from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
        })
    }

    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn delete(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as above; failure (already closed) is harmless.
        unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Ready tokens, waiting at most `timeout_ms` (0: just look).
    pub fn wait(&mut self, timeout_ms: i32) -> &[libc::epoll_event] {
        // SAFETY: the buffer holds `len` events and outlives the call.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                timeout_ms,
            )
        };
        let n = if n < 0 { 0 } else { n as usize };
        &self.events[..n]
    }
}

/// Buffers for receiving up to `N` datagrams from one socket in one `recvmmsg`.
pub struct RecvBatch<const N: usize> {
    bufs: Vec<[u8; 1500]>,
    iovs: [libc::iovec; N],
    addrs: [libc::sockaddr_storage; N],
    msgs: [libc::mmsghdr; N],
    lens: [usize; N],
    n: usize,
}

// SAFETY: the raw pointers inside point into the batch's own heap buffers, which move with it.
unsafe impl<const N: usize> Send for RecvBatch<N> {}

impl<const N: usize> RecvBatch<N> {
    pub fn new() -> Box<Self> {
        Box::new(RecvBatch {
            bufs: vec![[0u8; 1500]; N],
            // SAFETY: all-zero is a valid value for these plain C structs (null pointers are
            // replaced before every call).
            iovs: unsafe { std::mem::zeroed() },
            addrs: unsafe { std::mem::zeroed() },
            msgs: unsafe { std::mem::zeroed() },
            lens: [0; N],
            n: 0,
        })
    }

    /// Receive what is queued on `fd` (non-blocking); the number of datagrams.
    pub fn recv(&mut self, fd: RawFd) -> usize {
        for i in 0..N {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: 1500,
            };
            // SAFETY: zeroed msghdr is valid; we fill the pointers below.
            self.msgs[i] = unsafe { std::mem::zeroed() };
            self.msgs[i].msg_hdr.msg_iov = &mut self.iovs[i];
            self.msgs[i].msg_hdr.msg_iovlen = 1;
            self.msgs[i].msg_hdr.msg_name =
                (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            self.msgs[i].msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        // SAFETY: every mmsghdr points at buffers owned by self for the call's duration.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                N as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        self.n = if r < 0 { 0 } else { r as usize };
        for i in 0..self.n {
            self.lens[i] = self.msgs[i].msg_len as usize;
        }
        self.n
    }

    /// The `i`th datagram received and where it came from.
    /// The `i`-th datagram, writable (SRTP decrypts in place).
    pub fn get_mut(&mut self, i: usize) -> Option<(&mut [u8], SocketAddr)> {
        if i >= self.n {
            return None;
        }
        let from = sockaddr_to_std(&self.addrs[i])?;
        let len = self.lens[i].min(1500);
        Some((&mut self.bufs[i][..len], from))
    }

    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        if i >= self.n {
            return None;
        }
        let from = sockaddr_to_std(&self.addrs[i])?;
        Some((&self.bufs[i][..self.lens[i].min(1500)], from))
    }
}

fn sockaddr_to_std(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match s.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn std_to_sockaddr(a: SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match a {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let s =
                unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_port = v4.port().to_be();
            s.sin_addr = libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            };
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in6.
            let s =
                unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_port = v6.port().to_be();
            s.sin6_flowinfo = v6.flowinfo();
            s.sin6_addr = libc::in6_addr {
                s6_addr: v6.ip().octets(),
            };
            s.sin6_scope_id = v6.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Datagrams queued to go out, each from its own socket, sent with one `sendmmsg` per run of
/// datagrams from the same socket (a shard's packets for one 1 ms slot).
pub struct SendBatch {
    fds: Vec<RawFd>,
    bufs: Vec<[u8; 1500]>,
    lens: Vec<usize>,
    addrs: Vec<libc::sockaddr_storage>,
    alens: Vec<libc::socklen_t>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    n: usize,
}

// SAFETY: the raw pointers are rebuilt from owned buffers right before each send.
unsafe impl Send for SendBatch {}

/// Outcome counts of a flush.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    pub ok: u64,
    pub errors: u64,
    pub syscalls: u64,
}

impl SendBatch {
    pub fn new(capacity: usize) -> SendBatch {
        SendBatch {
            fds: vec![0; capacity],
            bufs: vec![[0u8; 1500]; capacity],
            lens: vec![0; capacity],
            // SAFETY: all-zero sockaddr_storage is valid.
            addrs: vec![unsafe { std::mem::zeroed() }; capacity],
            alens: vec![0; capacity],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                capacity
            ],
            // SAFETY: all-zero mmsghdr is valid.
            msgs: vec![unsafe { std::mem::zeroed() }; capacity],
            n: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.n == self.bufs.len()
    }

    /// A buffer for the next datagram; commit it with `push`.
    pub fn slot(&mut self) -> &mut [u8; 1500] {
        &mut self.bufs[self.n]
    }

    /// Queue the datagram just written into `slot()` (its first `len` bytes).
    pub fn push(&mut self, fd: RawFd, len: usize, to: SocketAddr) {
        let i = self.n;
        self.fds[i] = fd;
        self.lens[i] = len.min(1500);
        self.alens[i] = std_to_sockaddr(to, &mut self.addrs[i]);
        self.n += 1;
    }

    /// Send everything queued. Errors (a peer's ICMP port unreachable, a full buffer) drop
    /// that datagram: RTP is loss-tolerant.
    pub fn flush(&mut self) -> Sent {
        let mut sent = Sent::default();
        for i in 0..self.n {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.lens[i],
            };
            // SAFETY: zeroed msghdr is valid; pointers are set to live buffers below.
            self.msgs[i] = unsafe { std::mem::zeroed() };
            self.msgs[i].msg_hdr.msg_iov = &mut self.iovs[i];
            self.msgs[i].msg_hdr.msg_iovlen = 1;
            self.msgs[i].msg_hdr.msg_name =
                (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            self.msgs[i].msg_hdr.msg_namelen = self.alens[i];
        }
        let mut start = 0;
        while start < self.n {
            let fd = self.fds[start];
            let mut end = start + 1;
            while end < self.n && self.fds[end] == fd {
                end += 1;
            }
            let mut at = start;
            while at < end {
                // SAFETY: msgs[at..end] point at buffers owned by self.
                let r = unsafe {
                    libc::sendmmsg(
                        fd,
                        self.msgs[at..].as_mut_ptr(),
                        (end - at) as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                sent.syscalls += 1;
                if r <= 0 {
                    // The first datagram failed: count it and go on with the next.
                    sent.errors += 1;
                    at += 1;
                } else {
                    sent.ok += r as u64;
                    at += r as usize;
                }
            }
            start = end;
        }
        self.n = 0;
        sent
    }
}
