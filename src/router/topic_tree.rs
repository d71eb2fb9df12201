//! Subscription index: a trie over topic-filter levels.
//!
//! Nodes live in a flat arena and refer to each other by index, so matching,
//! pruning and dropping never recurse: a filter with tens of thousands of
//! levels cannot overflow the stack. Matching reuses a scratch stack kept in
//! the tree and allocates nothing except when pushing to the caller's output.
//!
//! Filters are stored as given; validating them ([MQTT-4.7.1-2], [MQTT-4.7.1-3])
//! is the caller's job. An invalid filter such as `a/#/b` is stored without
//! panicking but never matches anything.

use std::hash::Hash;

use rustc_hash::FxHashMap;

/// Arena index of the root node; the root is never freed nor anyone's child.
const ROOT: usize = 0;

/// Members of one shared-subscription group (`$share/{group}/{filter}`).
#[derive(Debug)]
struct Group<K, V> {
    members: Vec<(K, V)>,
    /// Position of each member in `members`.
    index: FxHashMap<K, usize>,
    /// Round-robin position of the next member to try.
    cursor: usize,
}

impl<K: Clone + Eq + Hash, V> Group<K, V> {
    fn new() -> Self {
        Self { members: Vec::new(), index: FxHashMap::default(), cursor: 0 }
    }

    fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(member) = self.index.get(&key).and_then(|&i| self.members.get_mut(i)) {
            return Some(std::mem::replace(&mut member.1, value));
        }
        self.index.insert(key.clone(), self.members.len());
        self.members.push((key, value));
        None
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.index.remove(key)?;
        let (_, value) = self.members.swap_remove(i);
        if let Some((moved, _)) = self.members.get(i) {
            if let Some(slot) = self.index.get_mut(moved) {
                *slot = i;
            }
        }
        shrink(&mut self.index);
        if self.members.capacity() > 16 && self.members.len() < self.members.capacity() / 4 {
            self.members.shrink_to(self.members.len() * 2);
        }
        Some(value)
    }

    /// Next member round-robin, preferring online ones.
    fn pick(&mut self, is_online: &impl Fn(&K) -> bool) -> Option<&(K, V)> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor % n;
        let chosen = (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.members.get(i).is_some_and(|(k, _)| is_online(k)))
            .unwrap_or(start);
        self.cursor = chosen + 1;
        self.members.get(chosen)
    }
}

#[derive(Debug)]
struct Node<K, V> {
    children: FxHashMap<Box<str>, usize>,
    /// Child for a `+` level.
    plus: Option<usize>,
    /// Child for a `#` level.
    hash: Option<usize>,
    /// Non-shared subscriptions whose filter ends at this node.
    subs: FxHashMap<K, V>,
    /// Shared groups whose filter ends at this node, by share name.
    shared: FxHashMap<Box<str>, Group<K, V>>,
}

impl<K: Clone + Eq + Hash, V> Node<K, V> {
    fn new() -> Self {
        Self {
            children: FxHashMap::default(),
            plus: None,
            hash: None,
            subs: FxHashMap::default(),
            shared: FxHashMap::default(),
        }
    }

    fn is_unused(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.hash.is_none()
            && self.subs.is_empty()
            && self.shared.is_empty()
    }

    /// Pushes every plain subscription here and one member of each group.
    fn collect(&mut self, is_online: &impl Fn(&K) -> bool, out: &mut Vec<(K, V)>)
    where
        V: Clone,
    {
        out.extend(self.subs.iter().map(|(k, v)| (k.clone(), v.clone())));
        for group in self.shared.values_mut() {
            if let Some((k, v)) = group.pick(is_online) {
                out.push((k.clone(), v.clone()));
            }
        }
    }
}

/// Gives memory back once a map is mostly empty, so a past peak is not kept.
fn shrink<A: Eq + Hash, B>(map: &mut FxHashMap<A, B>) {
    if map.capacity() > 16 && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len() * 2);
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

/// Subscription index mapping topic filters to the clients subscribed to them.
///
/// `K` identifies a client, `V` is the per-subscription information. One
/// entry exists per (filter, share group, key) triple.
#[derive(Debug)]
pub struct TopicTree<K, V> {
    nodes: Vec<Node<K, V>>,
    free: Vec<usize>,
    len: usize,
    /// Scratch stack for `matches`: (node, byte offset of the next level).
    stack: Vec<(usize, Option<usize>)>,
    /// Scratch path for `unsubscribe`.
    path: Vec<usize>,
}

impl<K: Clone + Eq + Hash, V> Default for TopicTree<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash, V> TopicTree<K, V> {
    /// Creates an empty tree.
    pub fn new() -> Self {
        Self { nodes: vec![Node::new()], free: Vec::new(), len: 0, stack: Vec::new(), path: Vec::new() }
    }

    /// Number of subscriptions, counting each shared-group member.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the tree holds no subscription.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds or replaces the subscription of `key` to `filter`, inside the
    /// share group `group` when given (the `{group}` of
    /// `$share/{group}/{filter}`). Returns the replaced value, if any.
    pub fn subscribe(&mut self, filter: &str, group: Option<&str>, key: K, value: V) -> Option<V> {
        let mut idx = ROOT;
        for level in filter.split('/') {
            idx = self.child_or_insert(idx, level);
        }
        let node = &mut self.nodes[idx];
        let prev = match group {
            None => node.subs.insert(key, value),
            Some(name) => match node.shared.get_mut(name) {
                Some(g) => g.insert(key, value),
                None => {
                    let mut g = Group::new();
                    g.insert(key, value);
                    node.shared.insert(name.into(), g);
                    None
                }
            },
        };
        if prev.is_none() {
            self.len += 1;
        }
        prev
    }

    /// Removes the subscription of `key` to `filter` (in share group `group`
    /// when given) and prunes nodes left empty. Returns the removed value.
    pub fn unsubscribe(&mut self, filter: &str, group: Option<&str>, key: &K) -> Option<V> {
        let mut path = std::mem::take(&mut self.path);
        let removed = self.remove_along(&mut path, filter, group, key);
        self.path = path;
        removed
    }

    /// Pushes to `out` every non-shared subscription whose filter matches
    /// `topic` (once per matching filter, no deduplication) and, for each
    /// matching share group, exactly one member: the next one round-robin
    /// for which `is_online` holds, or the next one if none is online.
    pub fn matches(&mut self, topic: &str, is_online: impl Fn(&K) -> bool, out: &mut Vec<(K, V)>)
    where
        V: Clone,
    {
        let Self { nodes, stack, .. } = self;
        stack.clear();
        stack.push((ROOT, Some(0)));
        while let Some((idx, rest)) = stack.pop() {
            let Some(pos) = rest else {
                // Topic exhausted: filters ending here match, and so does a
                // trailing `#`, which includes the parent level.
                let hash = nodes[idx].hash;
                nodes[idx].collect(&is_online, out);
                if let Some(h) = hash {
                    nodes[h].collect(&is_online, out);
                }
                continue;
            };
            let (level, next) = next_level(topic, pos);
            let node = &nodes[idx];
            if let Some(&c) = node.children.get(level) {
                stack.push((c, next));
            }
            // Wildcards in the first level never match `$` topics.
            if idx == ROOT && level.starts_with('$') {
                continue;
            }
            let (plus, hash) = (node.plus, node.hash);
            if let Some(p) = plus {
                stack.push((p, next));
            }
            if let Some(h) = hash {
                nodes[h].collect(&is_online, out);
            }
        }
    }

    /// Number of live nodes besides the root.
    #[cfg(test)]
    fn node_count(&self) -> usize {
        self.nodes.len() - 1 - self.free.len()
    }

    /// `unsubscribe`, recording the nodes of `filter` (root first) in `path`.
    fn remove_along(
        &mut self,
        path: &mut Vec<usize>,
        filter: &str,
        group: Option<&str>,
        key: &K,
    ) -> Option<V> {
        path.clear();
        let mut idx = ROOT;
        path.push(idx);
        for level in filter.split('/') {
            idx = self.child(idx, level)?;
            path.push(idx);
        }
        let node = &mut self.nodes[idx];
        let removed = match group {
            None => {
                let removed = node.subs.remove(key)?;
                shrink(&mut node.subs);
                removed
            }
            Some(name) => {
                let g = node.shared.get_mut(name)?;
                let removed = g.remove(key)?;
                if g.members.is_empty() {
                    node.shared.remove(name);
                }
                removed
            }
        };
        self.len -= 1;
        self.prune(path, filter);
        Some(removed)
    }

    fn child(&self, idx: usize, level: &str) -> Option<usize> {
        let node = &self.nodes[idx];
        match level {
            "+" => node.plus,
            "#" => node.hash,
            _ => node.children.get(level).copied(),
        }
    }

    fn child_or_insert(&mut self, idx: usize, level: &str) -> usize {
        if let Some(c) = self.child(idx, level) {
            return c;
        }
        let c = match self.free.pop() {
            Some(c) => c,
            None => {
                self.nodes.push(Node::new());
                self.nodes.len() - 1
            }
        };
        let node = &mut self.nodes[idx];
        match level {
            "+" => node.plus = Some(c),
            "#" => node.hash = Some(c),
            _ => {
                node.children.insert(level.into(), c);
            }
        }
        c
    }

    /// Frees the unused nodes at the bottom of `path` (root first), the
    /// node chain of `filter`.
    fn prune(&mut self, path: &[usize], filter: &str) {
        let mut levels = filter.rsplit('/');
        for pair in path.windows(2).rev() {
            let (&[parent, idx], Some(level)) = (pair, levels.next()) else { break };
            if !self.nodes[idx].is_unused() {
                break;
            }
            let p = &mut self.nodes[parent];
            match level {
                "+" => p.plus = None,
                "#" => p.hash = None,
                _ => {
                    p.children.remove(level);
                    shrink(&mut p.children);
                }
            }
            self.nodes[idx] = Node::new();
            self.free.push(idx);
        }
        if self.free.len() + 1 == self.nodes.len() {
            self.nodes.truncate(1);
            self.free.clear();
        }
    }
}

#[cfg(test)]
mod tests;
