//! Unit and property tests of the topic tree.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

type Tree = TopicTree<&'static str, u32>;

fn matched(tree: &mut Tree, topic: &str) -> Vec<(&'static str, u32)> {
    let mut out = Vec::new();
    tree.matches(topic, |_| true, &mut out);
    out.sort();
    out
}

fn hits(filter: &str, topic: &str) -> bool {
    let mut tree = Tree::new();
    tree.subscribe(filter, None, "c", 0);
    !matched(&mut tree, topic).is_empty()
}

#[test]
fn plus_matches_exactly_one_level() {
    // [MQTT-4.7.1-3] `+` occupies one whole level; examples of MQTT 3.1.1 §4.7.1.3.
    assert!(hits("sport/tennis/+", "sport/tennis/player1"));
    assert!(!hits("sport/tennis/+", "sport/tennis/player1/ranking"));
    assert!(hits("sport/+", "sport/"));
    assert!(!hits("sport/+", "sport"));
    assert!(hits("+/+", "/finance"));
    assert!(hits("/+", "/finance"));
    assert!(!hits("+", "/finance"));
    assert!(hits("+", ""));
    assert!(hits("a/+/c", "a//c"));
}

#[test]
fn hash_matches_parent_and_descendants() {
    // [MQTT-4.7.1-2] `#` is last and matches any number of levels,
    // including the parent level (MQTT 3.1.1 §4.7.1.2).
    for t in ["sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player1/score/x"] {
        assert!(hits("sport/tennis/player1/#", t));
    }
    assert!(hits("sport/#", "sport"));
    assert!(hits("sport/#", "sport/"));
    assert!(!hits("sport/#", "sports"));
    assert!(hits("#", "a/b/c"));
    assert!(hits("#", "/"));
    assert!(hits("+/tennis/#", "sport/tennis/player1/ranking"));
}

#[test]
fn wildcards_do_not_match_dollar_topics() {
    // [MQTT-4.7.2-1] Filters starting with a wildcard don't match `$` topics.
    assert!(!hits("#", "$SYS/monitor/Clients"));
    assert!(!hits("+/monitor/Clients", "$SYS/monitor/Clients"));
    assert!(!hits("+", "$SYS"));
    assert!(hits("$SYS/#", "$SYS/monitor/Clients"));
    assert!(hits("$SYS/monitor/+", "$SYS/monitor/Clients"));
    assert!(hits("a/+", "a/$b"));
    assert!(hits("a/#", "a/$b"));
}

#[test]
fn matching_is_exact_and_case_sensitive() {
    // [MQTT-4.7.3-4] No normalization of topic names or filters.
    assert!(!hits("ACCOUNTS", "Accounts"));
    assert!(hits("Accounts payable", "Accounts payable"));
    assert!(!hits("a/b", "a/b/"));
    assert!(!hits("a", "a+"));
    assert!(hits("ünï/cødé", "ünï/cødé"));
}

#[test]
fn subscribe_replaces_and_overlaps_are_kept() {
    let mut tree = Tree::new();
    // [MQTT-3.8.4-3] An identical filter replaces the existing subscription.
    assert_eq!(tree.subscribe("a/b", None, "c1", 1), None);
    assert_eq!(tree.subscribe("a/b", None, "c1", 2), Some(1));
    assert_eq!(tree.subscribe("a/+", None, "c1", 3), None);
    assert_eq!(tree.subscribe("a/b", Some("g"), "c1", 4), None);
    assert_eq!(tree.len(), 3);
    // Overlapping subscriptions each report a match; the router merges them.
    assert_eq!(matched(&mut tree, "a/b"), vec![("c1", 2), ("c1", 3), ("c1", 4)]);
    assert_eq!(matched(&mut tree, "a/x"), vec![("c1", 3)]);
}

#[test]
fn shared_group_delivers_to_one_member_round_robin() {
    // MQTT 5.0 §4.8.2: each message matching a shared subscription is sent
    // to only one of the sessions sharing it.
    let mut tree = Tree::new();
    for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
        tree.subscribe("s/+", Some("g"), k, v);
    }
    tree.subscribe("s/#", Some("h"), "a", 9);
    tree.subscribe("s/x", None, "b", 7);
    let mut seen = BTreeSet::new();
    for _ in 0..3 {
        let got = matched(&mut tree, "s/x");
        assert_eq!(got.len(), 3);
        assert!(got.contains(&("a", 9)) && got.contains(&("b", 7)));
        seen.extend(got.into_iter().filter(|(_, v)| (1..=3).contains(v)));
    }
    assert_eq!(seen.len(), 3, "every member got one of three messages");

    // Offline members are skipped while someone is online...
    let mut out = Vec::new();
    for _ in 0..4 {
        tree.matches("s/y", |k| *k == "b", &mut out);
    }
    assert!(out.iter().all(|(k, _)| *k == "b" || *k == "a"));
    assert_eq!(out.iter().filter(|(_, v)| *v == 2).count(), 4);
    // ...and with nobody online the group still rotates over everyone.
    out.clear();
    for _ in 0..3 {
        tree.matches("s/y", |_| false, &mut out);
    }
    let g: BTreeSet<_> = out.iter().filter(|(_, v)| *v <= 3).map(|(k, _)| *k).collect();
    assert_eq!(g.len(), 3);
}

#[test]
fn unsubscribe_prunes_and_keeps_siblings() {
    let mut tree = Tree::new();
    tree.subscribe("a/b/c", None, "x", 1);
    tree.subscribe("a", None, "x", 2);
    tree.subscribe("a/b", Some("g"), "y", 3);
    assert_eq!(tree.unsubscribe("a/b/c", None, &"y"), None);
    assert_eq!(tree.unsubscribe("a/b/c/d", None, &"x"), None);
    assert_eq!(tree.unsubscribe("a/b", None, &"y"), None);
    assert_eq!(tree.node_count(), 3);
    assert_eq!(tree.unsubscribe("a/b/c", None, &"x"), Some(1));
    assert_eq!(tree.node_count(), 2);
    assert_eq!(matched(&mut tree, "a"), vec![("x", 2)]);
    assert_eq!(tree.unsubscribe("a/b", Some("g"), &"y"), Some(3));
    assert_eq!(tree.unsubscribe("a", None, &"x"), Some(2));
    assert_eq!((tree.node_count(), tree.len()), (0, 0));
    for _ in 0..100 {
        tree.subscribe("p/q/r", None, "z", 0);
        tree.unsubscribe("p/q/r", None, &"z");
    }
    assert_eq!(tree.nodes.len(), 1, "churn must not grow the arena");
}

#[test]
fn churn_gives_memory_back_and_reuses_nodes() {
    let mut tree = TopicTree::<u32, u32>::new();
    tree.subscribe("x", None, 0, 0);
    tree.subscribe("x", Some("g"), 0, 0);
    for round in 0..2 {
        for i in 1..10_000 {
            tree.subscribe(&format!("x/{i}"), None, i, i);
            tree.subscribe("x", None, i, i);
            tree.subscribe("x", Some("g"), i, i);
        }
        let peak = tree.nodes.len();
        for i in 1..10_000 {
            assert_eq!(tree.unsubscribe(&format!("x/{i}"), None, &i), Some(i));
            assert_eq!(tree.unsubscribe("x", None, &i), Some(i));
            assert_eq!(tree.unsubscribe("x", Some("g"), &i), Some(i));
        }
        let x = &tree.nodes[tree.nodes[ROOT].children["x"]];
        let g = &x.shared["g"];
        assert!(x.children.capacity() < 64 && x.subs.capacity() < 64, "round {round}");
        assert!(g.members.capacity() < 64 && g.index.capacity() < 64);
        assert_eq!((tree.len(), tree.node_count(), tree.nodes.len()), (2, 1, peak));
    }
}

#[test]
fn odd_inputs_do_not_panic() {
    let mut tree = Tree::new();
    let deep = "a/".repeat(100_000) + "#";
    for f in ["", "/", "//", "#/a", "a/#/b", "++", "#", "+", deep.as_str()] {
        tree.subscribe(f, Some(""), "k", 1);
        tree.subscribe(f, None, "k", 2);
    }
    for t in ["", "/", "#", "+", "$", "a/#/b", deep.as_str()] {
        let mut out = Vec::new();
        tree.matches(t, |_| true, &mut out);
    }
    assert!(hits("", ""));
    assert!(!hits("a/#/b", "a/x/b"));
    for f in ["", "/", "//", "#/a", "a/#/b", "++", "#", "+", deep.as_str()] {
        assert_eq!(tree.unsubscribe(f, Some(""), &"k"), Some(1));
        assert_eq!(tree.unsubscribe(f, None, &"k"), Some(2));
    }
    assert_eq!(tree.node_count(), 0);
    tree.subscribe(&deep, None, "k", 0);
    drop(tree); // must not recurse
}

/// Reference matcher, straight from the rules.
fn naive(filter: &str, topic: &str) -> bool {
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    if t[0].starts_with('$') && (f[0] == "+" || f[0] == "#") {
        return false;
    }
    for (i, fl) in f.iter().enumerate() {
        match (*fl, t.get(i)) {
            ("#", _) => return true,
            (_, None) => return false,
            ("+", Some(_)) => {}
            (fl, Some(tl)) if fl != *tl => return false,
            _ => {}
        }
    }
    f.len() == t.len()
}

fn filter_strategy() -> impl Strategy<Value = String> {
    let level = prop::sample::select(vec!["a", "b", "$s", "", "+"]);
    (prop::collection::vec(level, 0..4), any::<bool>()).prop_map(|(mut levels, hash)| {
        if hash || levels.is_empty() {
            levels.push("#");
        }
        levels.join("/")
    })
}

fn topic_strategy() -> impl Strategy<Value = String> {
    let level = prop::sample::select(vec!["a", "b", "$s", ""]);
    prop::collection::vec(level, 1..5).prop_map(|l| l.join("/"))
}

type Op = (bool, prop::sample::Index, Option<&'static str>, u8);
type Sub = (String, Option<&'static str>, u32);

fn op_strategy() -> impl Strategy<Value = Op> {
    let group = prop::option::of(prop::sample::select(vec!["g1", "g2"]));
    (prop::bool::weighted(0.7), any::<prop::sample::Index>(), group, 0u8..4)
}

proptest! {
    #[test]
    fn matches_agree_with_reference(
        pool in prop::collection::vec(filter_strategy(), 1..8),
        ops in prop::collection::vec(op_strategy(), 0..40),
        topics in prop::collection::vec(topic_strategy(), 1..8),
        online in any::<u8>(),
    ) {
        let is_online = |k: &u8| online & (1 << k) != 0;
        let mut tree = TopicTree::<u8, Sub>::new();
        let mut model = BTreeMap::new();
        for (i, (sub, fi, g, key)) in ops.into_iter().enumerate() {
            let f = fi.get(&pool).clone();
            if sub {
                let v = (f.clone(), g, i as u32);
                prop_assert_eq!(tree.subscribe(&f, g, key, v.clone()), model.insert((f, g, key), v));
            } else {
                prop_assert_eq!(tree.unsubscribe(&f, g, &key), model.remove(&(f, g, key)));
            }
            prop_assert_eq!(tree.len(), model.len());
        }
        for topic in &topics {
            let mut out = Vec::new();
            tree.matches(topic, is_online, &mut out);
            let (mut shared, mut plain): (Vec<_>, Vec<_>) = out.into_iter().partition(|(_, v)| v.1.is_some());
            let mut want: Vec<_> = model.iter()
                .filter(|((f, g, _), _)| g.is_none() && naive(f, topic))
                .map(|((_, _, k), v)| (*k, v.clone()))
                .collect();
            plain.sort();
            want.sort();
            prop_assert_eq!(plain, want);

            let mut groups: BTreeMap<(String, &str), Vec<u8>> = BTreeMap::new();
            for (f, g, k) in model.keys() {
                if let (Some(g), true) = (g, naive(f, topic)) {
                    groups.entry((f.clone(), g)).or_default().push(*k);
                }
            }
            prop_assert_eq!(shared.len(), groups.len(), "one member per group");
            shared.sort_by(|a, b| a.1.cmp(&b.1));
            shared.dedup_by(|a, b| a.1.0 == b.1.0 && a.1.1 == b.1.1);
            prop_assert_eq!(shared.len(), groups.len(), "no group served twice");
            for (k, v) in &shared {
                let members = &groups[&(v.0.clone(), v.1.unwrap_or_default())];
                prop_assert_eq!(model.get(&(v.0.clone(), v.1, *k)), Some(v));
                if members.iter().any(is_online) {
                    prop_assert!(is_online(k));
                }
            }
        }
        for (f, g, k) in model.keys() {
            prop_assert!(tree.unsubscribe(f, *g, k).is_some());
        }
        prop_assert!(tree.is_empty());
        prop_assert_eq!(tree.node_count(), 0);
    }
}
