//! A call's leg to an agent's desktop (a browser), as the call core sees it: the offer goes to
//! the desktop over its WebSocket (with the screen pop), the desktop answers with its WebRTC
//! offer, the media engine answers that (ICE-lite, DTLS-SRTP on the leg's own port) and the
//! leg is answered when the audio is up. Hanging up, a refusal, the page going away and the
//! connection being lost become the same `LegEvent`s a SIP leg gives.

use std::collections::VecDeque;

use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::ctx::Ctx;
use super::messages::{DeskHandle, FromDesk, ToCall, ToDesk};
use crate::call::{LegEnd, LegEvent, OfferContext};
use crate::media::engine::{MediaEvent, MediaLeg};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Offered,
    Ringing,
    /// The agent answered; the audio is being set up.
    Connecting,
    Up,
    Ended,
}

pub struct DeskLeg {
    /// How the desktop names this leg in its answers.
    pub key: String,
    desk: DeskHandle,
    pub media: Option<MediaLeg>,
    state: State,
    events: VecDeque<LegEvent>,
}

impl DeskLeg {
    /// Offer the call to the desktop; its answers come back on `reply` as `ToCall::Desk`.
    pub fn offer(
        desk: DeskHandle,
        key: String,
        reply: mpsc::Sender<ToCall>,
        pop: Box<OfferContext>,
    ) -> DeskLeg {
        let mut leg = DeskLeg {
            key: key.clone(),
            desk,
            media: None,
            state: State::Offered,
            events: VecDeque::new(),
        };
        if leg
            .desk
            .tx
            .try_send(ToDesk::Offer {
                leg: key,
                reply,
                pop,
            })
            .is_err()
        {
            // The desktop is gone or not keeping up: the offer failed.
            leg.fail(480);
        }
        leg
    }

    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    fn fail(&mut self, status: u16) {
        if self.state != State::Ended {
            self.state = State::Ended;
            self.media = None;
            self.events.push_back(LegEvent::Failed { status });
        }
    }

    fn end(&mut self, end: LegEnd) {
        if self.state != State::Ended {
            self.state = State::Ended;
            self.media = None;
            self.events.push_back(LegEvent::Ended(end));
        }
    }

    /// What the desktop said about this leg.
    pub fn on_desk(
        &mut self,
        msg: FromDesk,
        ctx: &Ctx,
        shard: usize,
        media_tx: &mpsc::UnboundedSender<MediaEvent>,
        leg_id: u32,
    ) {
        match (self.state, msg) {
            (State::Offered, FromDesk::Ringing) => {
                self.state = State::Ringing;
                self.events.push_back(LegEvent::Ringing);
            }
            (State::Offered | State::Ringing, FromDesk::Answer { sdp }) => {
                match ctx.media.open_webrtc(shard, media_tx.clone(), leg_id, &sdp) {
                    Ok((media, answer)) => {
                        self.media = Some(media);
                        self.state = State::Connecting;
                        let _ = self.desk.tx.try_send(ToDesk::Sdp {
                            leg: self.key.clone(),
                            sdp: answer,
                        });
                    }
                    Err(e) => {
                        warn!(agent = %self.desk.agent, error = %e, "cannot answer the desktop's WebRTC offer");
                        self.notify_end("system");
                        self.fail(488);
                    }
                }
            }
            (State::Offered | State::Ringing, FromDesk::Reject) => self.fail(603),
            (State::Offered | State::Ringing | State::Connecting, FromDesk::Gone) => self.fail(480),
            (State::Connecting, FromDesk::Hangup) => {
                self.notify_end("agent");
                self.fail(487);
            }
            (State::Offered | State::Ringing, FromDesk::Hangup) => self.fail(603),
            (State::Up, FromDesk::Hangup) => {
                self.notify_end("agent");
                self.end(LegEnd::Bye);
            }
            (State::Up, FromDesk::Gone) => self.end(LegEnd::Lost),
            (State::Up, FromDesk::Hold(on)) => self.events.push_back(LegEvent::Held(on)),
            (State::Up, FromDesk::Transfer(to)) => self.events.push_back(LegEvent::Transfer(to)),
            (State::Up, FromDesk::Consult(to)) => self.events.push_back(LegEvent::Consult(to)),
            (State::Up, FromDesk::ConsultComplete) => {
                self.events.push_back(LegEvent::ConsultComplete {
                    other: None,
                    replaces: false,
                })
            }
            (State::Up, FromDesk::ConsultCancel) => self.events.push_back(LegEvent::ConsultCancel),
            (state, msg) => debug!(?state, ?msg, "desktop message out of turn: ignored"),
        }
    }

    /// The media engine's news about this leg's audio.
    pub fn on_media_up(&mut self) {
        if self.state == State::Connecting {
            self.state = State::Up;
            let _ = self.desk.tx.try_send(ToDesk::Connected {
                leg: self.key.clone(),
            });
            self.events.push_back(LegEvent::Answered);
        }
    }

    pub fn on_media_lost(&mut self) {
        match self.state {
            State::Connecting => {
                self.notify_end("system");
                self.fail(480);
            }
            State::Up => {
                self.notify_end("system");
                self.end(LegEnd::Lost);
            }
            _ => {}
        }
    }

    /// The call ends this leg (`by`: who the desktop is told ended it).
    pub fn hangup(&mut self, by: &'static str) {
        if self.state == State::Ended {
            return;
        }
        self.notify_end(by);
        match self.state {
            State::Up => self.end(LegEnd::Local),
            _ => self.fail(487),
        }
    }

    /// How the transfer the agent asked for is going.
    pub fn transfer_progress(&self, status: u16) {
        let _ = self.desk.tx.try_send(ToDesk::Transfer {
            leg: self.key.clone(),
            status,
        });
    }

    fn notify_end(&self, by: &'static str) {
        let _ = self.desk.tx.try_send(ToDesk::Ended {
            leg: self.key.clone(),
            by,
        });
    }

    pub fn drain(&mut self, events: &mut Vec<LegEvent>) -> bool {
        let moved = !self.events.is_empty();
        events.extend(self.events.drain(..));
        moved
    }
}
