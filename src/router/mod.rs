//! The topic-router actor: one per broker, on a thread of its own.
//!
//! A thin shell over plain structs that hold the logic and are tested without actix:
//! [`state::RouterState`] (sessions, fan-out, wills, expiry) built on
//! [`topic_tree::TopicTree`] (subscriptions, shared groups) and [`retained::RetainedStore`].
//! The router never sees wire types or plugins: sessions hand it version-neutral
//! [`crate::message::Message`]s.

pub mod messages;
pub mod registry;
pub mod retained;
pub mod state;
pub mod topic_tree;

use std::sync::Arc;

use actix::prelude::*;

use crate::config::MqttConfig;
use crate::protocol::ReasonCode;
use messages::*;
use state::{FollowUp, RouterState};

/// The router actor.
pub struct Router {
    state: RouterState,
}

impl Router {
    /// A router with empty state.
    pub fn new(config: Arc<MqttConfig>) -> Self {
        Router { state: RouterState::new(config) }
    }

    fn schedule(&mut self, follow_ups: Vec<FollowUp>, ctx: &mut Context<Self>) {
        for f in follow_ups {
            match f {
                FollowUp::ExpireSession { client_id, generation, after } => {
                    ctx.run_later(after, move |act, _| act.state.expire_session(&client_id, generation));
                }
                FollowUp::PublishWill { client_id, generation, after } => {
                    ctx.run_later(after, move |act, _| act.state.fire_will(&client_id, generation));
                }
            }
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;
}

impl Handler<Connect> for Router {
    type Result = ();
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        self.state.connect(msg);
    }
}

impl Handler<Detach> for Router {
    type Result = ();
    fn handle(&mut self, msg: Detach, _: &mut Context<Self>) {
        self.state.detach(msg);
    }
}

impl Handler<SessionClosed> for Router {
    type Result = ();
    fn handle(&mut self, msg: SessionClosed, ctx: &mut Context<Self>) {
        let follow_ups = self.state.session_closed(msg);
        self.schedule(follow_ups, ctx);
    }
}

impl Handler<Subscribe> for Router {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        self.state.subscribe(msg);
    }
}

impl Handler<Unsubscribe> for Router {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        self.state.unsubscribe(msg);
    }
}

impl Handler<Publish> for Router {
    type Result = ();
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        self.state.publish(msg.0);
    }
}

impl Handler<GetStats> for Router {
    type Result = RouterStats;
    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> RouterStats {
        self.state.stats()
    }
}

/// Anyone -> router: disconnect every client (shutdown). No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct KickAll(pub ReasonCode);

impl Handler<KickAll> for Router {
    type Result = ();
    fn handle(&mut self, msg: KickAll, _: &mut Context<Self>) {
        self.state.kick_all(msg.0);
    }
}
