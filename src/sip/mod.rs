//! SIP: framing and parsing (`framing`, `message`), writing (`builder`), the transaction layer
//! (`transaction`, `endpoint`), dialogs and the caller's leg (`dialog`, `uas`), SDP (`sdp`),
//! registration (`digest`, `registrar`, `throttle`), the randomness they use (`random`), and the
//! sockets (`transport`).

pub mod builder;
pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod flow;
pub mod framing;
pub mod leg;
pub mod message;
pub mod random;
pub mod registrar;
pub mod sdp;
pub mod throttle;
pub mod transaction;
pub mod transport;
pub mod uac;
pub mod uas;

#[cfg(test)]
mod torture_tests;
