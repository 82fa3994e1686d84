//! The call detail record, as reports name it: the projection itself lives in `cdr` at the
//! crate root (below the store, which writes its rows), re-exported here so `report::cdr::…`
//! keeps meaning what it always did. Never does: anything of its own.

pub use crate::cdr::{ivr, summarize, CallRow, IN_PROGRESS};
