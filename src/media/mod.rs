//! Media: G.711 (`g711`), prompts decoded once at start-up (`prompt`, `resample`), RTP and RTCP
//! packets (`rtp`, `rtcp`), SDES-SRTP (`srtp`), the port range (`ports`), DTMF detection (`dtmf`), voice messages
//! written as WAV (`wav`), and the engine (`engine`): shard threads that pace prompts and relay
//! bridged legs for every call.
//! Nothing here knows SIP.

pub mod dtmf;
pub mod engine;
pub mod g711;
pub mod ports;
pub mod prompt;
pub mod prompt_store;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod srtcp;
pub mod srtp;
pub mod wav;
