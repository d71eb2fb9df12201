//! MQTT topic matching for plugins that make their own decisions (ACLs, routing rules).

/// Does the topic `filter` match the topic name `topic`? `+` is one level, `#` the rest
/// (including the parent: `a/#` matches `a`); `$` topics are not matched by a leading wildcard.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut levels = topic.split('/');
    for f in filter.split('/') {
        match (f, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (f, Some(t)) if f == t => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

/// Does `rule` cover every topic the subscription filter `requested` can match?
/// (`a/#` covers `a/+/c`; `a/+` does not cover `a/#`.)
pub fn covers(rule: &str, requested: &str) -> bool {
    if requested.starts_with('$') != rule.starts_with('$') && (rule.starts_with('+') || rule.starts_with('#'))
    {
        return false;
    }
    let mut req = requested.split('/');
    for r in rule.split('/') {
        match (r, req.next()) {
            ("#", _) => return true,
            ("+", Some(q)) if q != "#" => {}
            (r, Some(q)) if r == q && r != "+" => {}
            _ => return false,
        }
    }
    req.next().is_none()
}

/// Could some topic match both filters?
pub fn overlaps(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (a.split('/'), b.split('/'));
    loop {
        match (x.next(), y.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (None, None) => return true,
            (Some(p), Some(q)) if p == "+" || q == "+" || p == q => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(!matches("#", "$SYS/x"));
    }

    #[test]
    fn covering() {
        assert!(covers("a/#", "a/+/c"));
        assert!(covers("a/+", "a/b"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/b", "a/+"));
        assert!(covers("#", "x/#"));
    }

    #[test]
    fn overlapping() {
        assert!(overlaps("a/+", "a/b"));
        assert!(overlaps("a/#", "+/b/c"));
        assert!(!overlaps("a/b", "a/c"));
        assert!(!overlaps("a/b", "a/b/c"));
    }
}
