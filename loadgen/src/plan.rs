//! Which connections a shard opens: role, index, client id, topic and local
//! address of each.
//!
//! Connection `i` of a role runs on shard `i % shards`. Local addresses are
//! handed out round-robin over all connections of the run (subscribers, then
//! publishers, or the idle connections), so each address carries an equal
//! share of the ephemeral ports.

use std::net::IpAddr;

use crate::scenario::Scenario;
use crate::template::{expand, TemplateVars};

/// What a connection does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleKind {
    /// Publishes on a schedule.
    Publisher,
    /// Subscribes and receives.
    Subscriber,
    /// Connects and stays idle.
    Idle,
}

impl RoleKind {
    /// The name `%r` expands to.
    pub fn name(self) -> &'static str {
        match self {
            RoleKind::Publisher => "pub",
            RoleKind::Subscriber => "sub",
            RoleKind::Idle => "conn",
        }
    }
}

/// One connection to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientPlan {
    /// Its role.
    pub role: RoleKind,
    /// Index within the role, over all shards.
    pub index: u32,
    /// Client Identifier.
    pub client_id: String,
    /// Topic name (publishers) or topic filter (subscribers); empty when idle.
    pub topic: String,
    /// Local address to connect from.
    pub bind: Option<IpAddr>,
}

/// The connections shard `shard` opens, in the order it opens them:
/// subscribers first, so that they are in place before anyone publishes.
pub fn for_shard(scenario: &Scenario, shard: usize) -> Vec<ClientPlan> {
    let shards = scenario.shards;
    let subscribers = scenario.subscriber_count();
    let roles = [
        (RoleKind::Subscriber, subscribers, 0),
        (RoleKind::Idle, scenario.idle_count(), 0),
        (RoleKind::Publisher, scenario.publisher_count(), subscribers),
    ];
    let filter = scenario.filter_template();
    let mut plans = Vec::new();
    for (role, count, first_ordinal) in roles {
        let topic_template = match role {
            RoleKind::Publisher => scenario.topic_name.as_str(),
            RoleKind::Subscriber => filter.as_str(),
            RoleKind::Idle => "",
        };
        for index in (0..count).filter(|&i| i as usize % shards == shard) {
            let vars = TemplateVars {
                index,
                shard,
                role: role.name(),
            };
            let ordinal = first_ordinal as usize + index as usize;
            plans.push(ClientPlan {
                role,
                index,
                client_id: expand(&scenario.client_id, vars),
                topic: expand(topic_template, vars),
                bind: (!scenario.bind.is_empty())
                    .then(|| scenario.bind[ordinal % scenario.bind.len()]),
            });
        }
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ScenarioKind;

    fn p2p(pairs: u32, shards: usize) -> Scenario {
        let mut scenario = Scenario::new(
            ScenarioKind::PointToPoint,
            "127.0.0.1:1883".parse().unwrap(),
        );
        scenario.publishers = pairs;
        scenario.shards = shards;
        scenario
    }

    #[test]
    fn every_connection_lands_on_exactly_one_shard() {
        let scenario = p2p(7, 3);
        let mut ids: Vec<String> = (0..3)
            .flat_map(|shard| for_shard(&scenario, shard))
            .map(|plan| plan.client_id)
            .collect();
        assert_eq!(ids.len(), 14);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 14, "client ids are unique");
    }

    #[test]
    fn pair_members_share_their_topic() {
        let scenario = p2p(4, 1);
        let plans = for_shard(&scenario, 0);
        let topic_of = |role, index| {
            plans
                .iter()
                .find(|p| p.role == role && p.index == index)
                .map(|p| p.topic.clone())
                .unwrap()
        };
        assert_eq!(topic_of(RoleKind::Publisher, 2), "loadgen/p2p/2");
        assert_eq!(topic_of(RoleKind::Subscriber, 2), "loadgen/p2p/2");
        assert_eq!(
            plans[0].role,
            RoleKind::Subscriber,
            "subscribers connect first"
        );
    }

    #[test]
    fn local_addresses_are_used_round_robin() {
        let mut scenario = Scenario::new(
            ScenarioKind::Conn { connections: 6 },
            "127.0.0.1:1883".parse().unwrap(),
        );
        scenario.shards = 1;
        scenario.bind = vec!["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()];
        let binds: Vec<String> = for_shard(&scenario, 0)
            .iter()
            .map(|plan| plan.bind.unwrap().to_string())
            .collect();
        assert_eq!(
            binds,
            [
                "127.0.0.1",
                "127.0.0.2",
                "127.0.0.1",
                "127.0.0.2",
                "127.0.0.1",
                "127.0.0.2"
            ]
        );
    }
}
