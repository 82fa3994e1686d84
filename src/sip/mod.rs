//! SIP: framing and parsing (`framing`, `message`), writing (`builder`), the transaction layer
//! (`transaction`, `endpoint`), dialogs and the caller's leg (`dialog`, `uas`), SDP (`sdp`),
//! registration (`digest`, `registrar`, `throttle`), our own side of digest and
//! registration toward carriers (`auth_client`, `trunk_register`), the randomness they use (`random`), the
//! sockets (`transport`), and finding a next hop in DNS (`dns`, sans-IO; `dns_client`, its queries).

pub mod auth_client;
pub mod builder;
pub mod dialog;
pub mod digest;
pub mod dns;
pub mod dns_client;
pub mod endpoint;
pub mod flow;
pub mod framing;
pub mod leg;
pub mod message;
pub mod random;
pub mod registrar;
pub mod sdp;
pub mod throttle;
pub mod trunk_register;
pub mod transaction;
pub mod transport;
pub mod uac;
pub mod uas;

#[cfg(test)]
mod torture_tests;
