//! Media: G.711 (`g711`), prompts decoded once at start-up (`prompt`, `resample`), RTP and RTCP
//! packets (`rtp`, `rtcp`), the port range (`ports`), one pacer thread per shard for every
//! outgoing stream (`pacer`), DTMF detection (`dtmf`), and a call's media (`session`).
//! Nothing here knows SIP.

pub mod dtmf;
pub mod g711;
pub mod pacer;
pub mod ports;
pub mod prompt;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod session;
