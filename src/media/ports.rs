//! The RTP port range: even ports for RTP, the next odd one for RTCP (RFC 3550 §11).
//! Ports are handed out least-recently-used first, so a port freed by a call that just ended
//! is not reused while stray packets for that call may still arrive.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum PortError {
    #[error("RTP port range {0}-{1} is exhausted")]
    Exhausted(u16, u16),
    #[error("RTP port range {0}-{1} is invalid (need even start < end)")]
    BadRange(u16, u16),
}

#[derive(Debug)]
pub struct PortPool {
    ip: IpAddr,
    range: (u16, u16),
    free: Mutex<VecDeque<u16>>,
}

/// A reserved port pair; it goes back to the pool on drop (drop it after its sockets).
#[derive(Debug)]
pub struct PortLease {
    pool: Arc<PortPool>,
    pub port: u16,
}

/// Sockets bound on a leased pair.
#[derive(Debug)]
pub struct BoundPair {
    pub lease: PortLease,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool
            .free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(self.port);
    }
}

impl PortPool {
    pub fn new(ip: IpAddr, min: u16, max: u16) -> Result<Arc<PortPool>, PortError> {
        let start = min + (min % 2);
        if start >= max {
            return Err(PortError::BadRange(min, max));
        }
        let free = (start..max).step_by(2).collect();
        Ok(Arc::new(PortPool {
            ip,
            range: (min, max),
            free: Mutex::new(free),
        }))
    }

    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    pub fn available(&self) -> usize {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Bind the next free pair; ports another program holds are skipped (and retried later).
    pub fn lease(self: &Arc<Self>) -> Result<BoundPair, PortError> {
        let tries = self.available();
        for _ in 0..tries {
            let Some(port) = self
                .free
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front()
            else {
                break;
            };
            let rtp = UdpSocket::bind(SocketAddr::new(self.ip, port));
            let rtcp = UdpSocket::bind(SocketAddr::new(self.ip, port + 1));
            match (rtp, rtcp) {
                (Ok(rtp), Ok(rtcp)) => {
                    return Ok(BoundPair {
                        lease: PortLease {
                            pool: self.clone(),
                            port,
                        },
                        rtp,
                        rtcp,
                    })
                }
                _ => self
                    .free
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back(port),
            }
        }
        Err(PortError::Exhausted(self.range.0, self.range.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_even_pairs_and_returns_them_last() {
        let pool = PortPool::new("127.0.0.1".parse().unwrap(), 41000, 41006).unwrap();
        assert_eq!(pool.available(), 3);
        let a = pool.lease().unwrap();
        assert_eq!(a.lease.port % 2, 0);
        assert_eq!(a.rtcp.local_addr().unwrap().port(), a.lease.port + 1);
        let first = a.lease.port;
        drop(a);
        let b = pool.lease().unwrap();
        assert_ne!(
            b.lease.port, first,
            "a freed port goes to the back of the line"
        );
        let _c = pool.lease().unwrap();
        let _d = pool.lease().unwrap();
        assert!(matches!(pool.lease(), Err(PortError::Exhausted(..))));
    }

    #[test]
    fn taken_ports_are_skipped() {
        let squatter = UdpSocket::bind("127.0.0.1:41100").unwrap();
        let pool = PortPool::new("127.0.0.1".parse().unwrap(), 41100, 41104).unwrap();
        let l = pool.lease().unwrap();
        assert_eq!(l.lease.port, 41102);
        drop(squatter);
    }
}
