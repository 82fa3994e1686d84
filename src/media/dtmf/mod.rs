//! DTMF from the caller: RFC 4733 telephone-events and in-band tones. (SIP INFO digits are
//! read by the SIP leg.)

pub mod inband;
pub mod rfc4733;
