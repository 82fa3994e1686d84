//! What a new call's INVITE says, read for the call driver: the dialled and calling numbers
//! (E.164 when a carrier trunk sent the call), the caller's display name, and where a dialled
//! URI's host is. Pure functions over parsed messages; no call logic.

use super::ctx::Ctx;
use crate::sip::dialog::uri_socket_addr;
use crate::sip::flow::Flow;
use crate::sip::message::{dialled_user, InRequest};

/// Where to send an INVITE to a URI we may not need DNS for.
pub(super) fn dest_for(ctx: &Ctx, uri: &str) -> Option<Flow> {
    let (remote, transport) = uri_socket_addr(uri)?;
    let local = ctx.transports.local_for_outbound(transport)?;
    Some(Flow {
        transport,
        local,
        remote,
        conn: 0,
    })
}

/// The dialled and calling numbers of a new call. From a carrier trunk they are read as
/// E.164 (the DID selects the plan entry); a carrier that addresses our registration contact
/// rather than the DID has it in To.
pub(super) fn numbers(ctx: &Ctx, invite: &InRequest, flow: Flow) -> (String, String) {
    use crate::config::trunk::from_carrier;
    let dialled = dialled_user(&invite.req.uri);
    let caller = from_user(invite);
    let Some(trunk) = ctx.trunks.source(flow.remote) else {
        return (dialled, caller);
    };
    let dialled = if trunk.username.as_deref() == Some(dialled.as_str()) || dialled.is_empty() {
        use rsipstack::sip::HeadersExt;
        invite
            .req
            .to_header()
            .ok()
            .and_then(|h| rsipstack::sip::typed::To::parse(h.value()).ok())
            .and_then(|t| t.uri.user().map(str::to_string))
            .unwrap_or(dialled)
    } else {
        dialled
    };
    (from_carrier(&dialled), from_carrier(&caller))
}

pub(super) fn from_user(invite: &InRequest) -> String {
    use rsipstack::sip::HeadersExt;
    invite
        .req
        .from_header()
        .ok()
        .and_then(|h| rsipstack::sip::typed::From::parse(h.value()).ok())
        .map(|f| {
            f.uri
                .user()
                .map(str::to_string)
                .unwrap_or_else(|| f.uri.to_string())
        })
        .unwrap_or_default()
}

pub(super) fn from_display(invite: &InRequest) -> Option<String> {
    use rsipstack::sip::HeadersExt;
    invite
        .req
        .from_header()
        .ok()
        .and_then(|h| rsipstack::sip::typed::From::parse(h.value()).ok())
        .and_then(|f| f.display_name)
        .filter(|d| !d.is_empty())
}
