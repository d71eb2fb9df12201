//! Retained message store: a trie over topic-name levels holding at most one
//! message per topic.
//!
//! Like the topic tree, nodes live in a flat arena linked by index, so no
//! operation recurses however deep a topic is.

use rustc_hash::FxHashMap;

/// Arena index of the root node; the root never holds a message.
const ROOT: usize = 0;

#[derive(Debug)]
struct Node<M> {
    children: FxHashMap<Box<str>, usize>,
    /// The retained message of the topic ending here, with that topic.
    msg: Option<(Box<str>, M)>,
}

impl<M> Node<M> {
    fn new() -> Self {
        Self { children: FxHashMap::default(), msg: None }
    }
}

/// Splits the level starting at byte `pos` off `s`; also returns where the
/// following level starts, or `None` when this is the last level.
fn next_level(s: &str, pos: usize) -> (&str, Option<usize>) {
    let rest = s.get(pos..).unwrap_or("");
    match rest.split_once('/') {
        Some((level, _)) => (level, Some(pos + level.len() + 1)),
        None => (rest, None),
    }
}

/// Retained messages indexed by topic name, at most one per topic.
#[derive(Debug)]
pub struct RetainedStore<M> {
    nodes: Vec<Node<M>>,
    free: Vec<usize>,
    len: usize,
}

impl<M: Clone> Default for RetainedStore<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Clone> RetainedStore<M> {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self { nodes: vec![Node::new()], free: Vec::new(), len: 0 }
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no message is retained.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Retains `msg` for `topic`, returning the message it replaces.
    pub fn insert(&mut self, topic: &str, msg: M) -> Option<M> {
        let mut idx = ROOT;
        for level in topic.split('/') {
            idx = match self.nodes[idx].children.get(level) {
                Some(&c) => c,
                None => {
                    let c = match self.free.pop() {
                        Some(c) => c,
                        None => {
                            self.nodes.push(Node::new());
                            self.nodes.len() - 1
                        }
                    };
                    self.nodes[idx].children.insert(level.into(), c);
                    c
                }
            };
        }
        let node = &mut self.nodes[idx];
        if let Some((_, old)) = &mut node.msg {
            return Some(std::mem::replace(old, msg));
        }
        node.msg = Some((topic.into(), msg));
        self.len += 1;
        None
    }

    /// The message retained for exactly `topic`.
    pub fn get(&self, topic: &str) -> Option<&M> {
        let mut idx = ROOT;
        for level in topic.split('/') {
            idx = *self.nodes[idx].children.get(level)?;
        }
        self.nodes[idx].msg.as_ref().map(|(_, m)| m)
    }

    /// Removes and returns the message retained for `topic`, pruning the
    /// nodes left empty.
    pub fn remove(&mut self, topic: &str) -> Option<M> {
        let mut path = Vec::new();
        let mut idx = ROOT;
        for level in topic.split('/') {
            path.push(idx);
            idx = *self.nodes[idx].children.get(level)?;
        }
        let (_, msg) = self.nodes[idx].msg.take()?;
        self.len -= 1;
        // Walk back up: `path` holds each node's parent, `rsplit` its level.
        for (parent, level) in path.into_iter().rev().zip(topic.rsplit('/')) {
            let node = &self.nodes[idx];
            if node.msg.is_some() || !node.children.is_empty() {
                break;
            }
            let siblings = &mut self.nodes[parent].children;
            siblings.remove(level);
            if siblings.capacity() > 16 && siblings.len() < siblings.capacity() / 4 {
                siblings.shrink_to(siblings.len() * 2);
            }
            self.nodes[idx] = Node::new();
            self.free.push(idx);
            idx = parent;
        }
        if self.free.len() + 1 == self.nodes.len() {
            self.nodes.truncate(1);
            self.free.clear();
        }
        Some(msg)
    }

    /// Pushes to `out` every retained message whose topic matches `filter`.
    ///
    /// `+` matches one level, a trailing `#` the parent level and any number
    /// of levels below; a wildcard as first level never matches a topic
    /// starting with `$` [MQTT-4.7.2-1]. A `#` that is not the last level
    /// matches nothing.
    pub fn matching(&self, filter: &str, out: &mut Vec<M>) {
        let emit = |idx: usize, out: &mut Vec<M>| {
            out.extend(self.nodes[idx].msg.as_ref().map(|(_, m)| m.clone()));
        };
        // (node, where the next filter level starts, `None` once consumed).
        let mut walk = vec![(ROOT, Some(0))];
        // Nodes whose whole subtree matches (reached through `#`).
        let mut all = Vec::new();
        while let Some((idx, rest)) = walk.pop() {
            let Some(pos) = rest else {
                emit(idx, out);
                continue;
            };
            let children = &self.nodes[idx].children;
            let wild = children.iter().filter(|(name, _)| idx != ROOT || !name.starts_with('$'));
            match next_level(filter, pos) {
                ("#", None) => {
                    emit(idx, out);
                    all.extend(wild.map(|(_, &c)| c));
                }
                ("#", Some(_)) => {}
                ("+", next) => walk.extend(wild.map(|(_, &c)| (c, next))),
                (level, next) => walk.extend(children.get(level).map(|&c| (c, next))),
            }
        }
        while let Some(idx) = all.pop() {
            emit(idx, out);
            all.extend(self.nodes[idx].children.values());
        }
    }

    /// Every retained message with its topic, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (String, &M)> + '_ {
        self.nodes.iter().filter_map(|n| n.msg.as_ref()).map(|(t, m)| (t.to_string(), m))
    }

    /// Number of live nodes besides the root.
    #[cfg(test)]
    fn node_count(&self) -> usize {
        self.nodes.len() - 1 - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn store(topics: &[&str]) -> RetainedStore<String> {
        let mut s = RetainedStore::new();
        for t in topics {
            s.insert(t, t.to_string());
        }
        s
    }

    fn found(s: &RetainedStore<String>, filter: &str) -> Vec<String> {
        let mut out = Vec::new();
        s.matching(filter, &mut out);
        out.sort();
        out
    }

    #[test]
    fn insert_get_replace_remove() {
        let mut s = RetainedStore::new();
        assert_eq!(s.insert("a/b", 1), None);
        assert_eq!(s.insert("a/b", 2), Some(1));
        assert_eq!(s.insert("a", 3), None);
        assert_eq!((s.get("a/b"), s.get("a"), s.get("a/b/c"), s.get("b")), (Some(&2), Some(&3), None, None));
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove("a/b/c"), None);
        assert_eq!(s.remove("a/b"), Some(2));
        assert_eq!(s.remove("a/b"), None);
        assert_eq!((s.node_count(), s.len()), (1, 1));
        assert_eq!(s.remove("a"), Some(3));
        assert!(s.is_empty());
        assert_eq!(s.node_count(), 0);
        for _ in 0..100 {
            s.insert("x/y/z", 0);
            s.remove("x/y/z");
        }
        assert_eq!(s.nodes.len(), 1, "churn must not grow the arena");
    }

    #[test]
    fn wildcard_matching() {
        let s = store(&["sport", "sport/", "sport/tennis", "sport/tennis/p1", "/finance", "a//c"]);
        // [MQTT-4.7.1-2] `#` also matches the parent level.
        assert_eq!(found(&s, "sport/#"), ["sport", "sport/", "sport/tennis", "sport/tennis/p1"]);
        assert_eq!(found(&s, "sport/tennis/#"), ["sport/tennis", "sport/tennis/p1"]);
        // [MQTT-4.7.1-3] `+` matches exactly one level, possibly empty.
        assert_eq!(found(&s, "sport/+"), ["sport/", "sport/tennis"]);
        assert_eq!(found(&s, "+"), ["sport"]);
        assert_eq!(found(&s, "+/+"), ["/finance", "sport/", "sport/tennis"]);
        assert_eq!(found(&s, "a/+/c"), ["a//c"]);
        assert_eq!(found(&s, "#").len(), 6);
        // [MQTT-4.7.3-4] No normalization: exact, case-sensitive levels.
        assert!(found(&s, "Sport/#").is_empty());
        assert!(found(&s, "sport/tennis/#/x").is_empty());
    }

    #[test]
    fn dollar_topics_need_explicit_first_level() {
        let s = store(&["$SYS/broker/uptime", "$SYS", "x/$y"]);
        // [MQTT-4.7.2-1] Wildcards as first level don't match `$` topics.
        assert!(found(&s, "#").len() == 1 && found(&s, "+/broker/uptime").is_empty());
        assert!(found(&s, "+").is_empty());
        assert_eq!(found(&s, "$SYS/#"), ["$SYS", "$SYS/broker/uptime"]);
        assert_eq!(found(&s, "$SYS/+/uptime"), ["$SYS/broker/uptime"]);
        assert_eq!(found(&s, "x/+"), ["x/$y"]);
    }

    #[test]
    fn iter_and_odd_inputs() {
        let deep = "d/".repeat(100_000);
        let mut s = store(&["", "/", "#", "+/x", deep.as_str()]);
        let mut all: Vec<_> = s.iter().map(|(t, m)| (t, m.clone())).collect();
        all.sort();
        assert_eq!(all.len(), 5);
        assert!(all.iter().all(|(t, m)| t == m));
        assert_eq!(found(&s, ""), [""]);
        assert_eq!(found(&s, &format!("{deep}#")), [deep.as_str()]);
        assert_eq!(s.remove(&deep).as_deref(), Some(deep.as_str()));
        s.insert(&deep, String::new());
        drop(s); // must not recurse
    }

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

    fn topic_strategy() -> impl Strategy<Value = String> {
        let level = prop::sample::select(vec!["a", "b", "$s", ""]);
        prop::collection::vec(level, 1..5).prop_map(|l| l.join("/"))
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

    proptest! {
        #[test]
        fn agrees_with_reference(
            pool in prop::collection::vec(topic_strategy(), 1..10),
            ops in prop::collection::vec((prop::bool::weighted(0.7), any::<prop::sample::Index>()), 0..40),
            filters in prop::collection::vec(filter_strategy(), 1..8),
        ) {
            let mut s = RetainedStore::new();
            let mut model = HashMap::new();
            for (i, (insert, ti)) in ops.into_iter().enumerate() {
                let t = ti.get(&pool).clone();
                if insert {
                    let m = (t.clone(), i);
                    prop_assert_eq!(s.insert(&t, m.clone()), model.insert(t, m));
                } else {
                    prop_assert_eq!(s.remove(&t), model.remove(&t));
                }
                prop_assert_eq!(s.len(), model.len());
            }
            for t in &pool {
                prop_assert_eq!(s.get(t), model.get(t));
            }
            let listed: HashMap<String, (String, usize)> = s.iter().map(|(t, m)| (t, m.clone())).collect();
            prop_assert_eq!(&listed, &model);
            for f in filters.iter().chain(&pool) {
                let mut got = Vec::new();
                s.matching(f, &mut got);
                got.sort();
                let mut want: Vec<_> = model.iter().filter(|(t, _)| naive(f, t)).map(|(_, m)| m.clone()).collect();
                want.sort();
                prop_assert_eq!(got, want, "filter {:?}", f);
            }
            for t in model.keys() {
                prop_assert!(s.remove(t).is_some());
            }
            prop_assert_eq!((s.len(), s.node_count()), (0, 0));
        }
    }
}
