use proptest::prelude::*;

use super::*;

#[test]
fn topic_names() {
    assert_eq!(validate_topic_name("a/b/c"), Ok(()));
    assert_eq!(validate_topic_name("/"), Ok(()));
    assert_eq!(validate_topic_name("$SYS/x"), Ok(()));
    // [MQTT-4.7.3-1]
    assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
    // [MQTT-4.7.0-1] / [MQTT-3.3.2-2]
    assert_eq!(validate_topic_name("a/+"), Err(TopicError::WildcardInName));
    assert_eq!(validate_topic_name("a/#"), Err(TopicError::WildcardInName));
    assert_eq!(validate_topic_name("a+b"), Err(TopicError::WildcardInName));
    // [MQTT-4.7.3-2]
    assert_eq!(validate_topic_name("a\0b"), Err(TopicError::NullCharacter));
    // [MQTT-4.7.3-3]
    assert_eq!(validate_topic_name(&"a".repeat(65_535)), Ok(()));
    assert_eq!(validate_topic_name(&"a".repeat(65_536)), Err(TopicError::TooLong));
}

#[test]
fn topic_filters() {
    for ok in ["#", "+", "a/#", "a/+/b", "+/+", "/+", "a//b", "$SYS/#", "+/#", "a/b"] {
        assert_eq!(validate_topic_filter(ok), Ok(()), "{ok}");
    }
    // [MQTT-4.7.1-1]
    for bad in ["a/#/b", "a#", "#/", "a/b#", "##"] {
        assert_eq!(validate_topic_filter(bad), Err(TopicError::MultiLevelWildcardMisplaced), "{bad}");
    }
    // [MQTT-4.7.1-2]
    for bad in ["a+", "a/+b", "++", "+a/b"] {
        assert_eq!(validate_topic_filter(bad), Err(TopicError::SingleLevelWildcardMisplaced), "{bad}");
    }
    assert_eq!(validate_topic_filter(""), Err(TopicError::Empty));
    assert_eq!(validate_topic_filter("a\0"), Err(TopicError::NullCharacter));
}

#[test]
fn shared_subscriptions() {
    assert_eq!(parse_shared_subscription("a/b"), Ok(None));
    assert_eq!(parse_shared_subscription("$share"), Ok(None));
    assert_eq!(
        parse_shared_subscription("$share/g/a/+"),
        Ok(Some(SharedFilter { group: "g", filter: "a/+" }))
    );
    assert_eq!(
        parse_shared_subscription("$share/grp/#"),
        Ok(Some(SharedFilter { group: "grp", filter: "#" }))
    );
    // [MQTT-4.8.2-1]
    assert_eq!(parse_shared_subscription("$share/"), Err(TopicError::EmptyShareName));
    assert_eq!(parse_shared_subscription("$share//a"), Err(TopicError::EmptyShareName));
    // [MQTT-4.8.2-2]
    assert_eq!(parse_shared_subscription("$share/g+/a"), Err(TopicError::InvalidShareName));
    assert_eq!(parse_shared_subscription("$share/#/a"), Err(TopicError::InvalidShareName));
    assert_eq!(parse_shared_subscription("$share/+"), Err(TopicError::InvalidShareName));
    assert_eq!(parse_shared_subscription("$share/g"), Err(TopicError::MissingSharedFilter));
    assert_eq!(parse_shared_subscription("$share/g/"), Err(TopicError::MissingSharedFilter));
    assert_eq!(parse_shared_subscription("$share/g/a/#/b"), Err(TopicError::MultiLevelWildcardMisplaced));
}

#[test]
fn wildcards() {
    assert!(has_wildcards("a/+"));
    assert!(has_wildcards("#"));
    assert!(!has_wildcards("a/b"));
}

#[test]
fn matching() {
    let cases: &[(&str, &str, bool)] = &[
        ("a/b", "a/b", true),
        ("a/b", "a/c", false),
        ("a/b", "a/b/c", false),
        ("a/b/c", "a/b", false),
        ("a/+", "a/b", true),
        ("a/+", "a/", true),
        ("a/+", "a", false),
        ("a/+", "a/b/c", false),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("+", "finance", true),
        // '#' matches the parent level and everything below.
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/#", "sport", true),
        ("sport/#", "sports", false),
        ("#", "a/b/c", true),
        ("#", "/", true),
        ("+/tennis/#", "sport/tennis/x", true),
        ("sport/+/player1", "sport/tennis/player1", true),
        // [MQTT-4.7.2-1]
        ("#", "$SYS/x", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("$SYS/#", "$SYS/monitor/Clients", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("a/#", "a/$x", true),
    ];
    for &(filter, topic, expected) in cases {
        assert_eq!(matches(filter, topic), expected, "{filter} vs {topic}");
    }
}

proptest! {
    #[test]
    fn a_topic_matches_itself(levels in prop::collection::vec("[a-z$]{0,3}", 1..5)) {
        let topic = levels.join("/");
        prop_assert!(matches(&topic, &topic));
        if !topic.starts_with('$') {
            prop_assert!(matches("#", &topic));
        }
    }

    #[test]
    fn plus_replaces_any_one_level(levels in prop::collection::vec("[a-z]{0,3}", 1..5), i in 0usize..5) {
        let topic = levels.join("/");
        let i = i % levels.len();
        let mut filter_levels: Vec<&str> = levels.iter().map(String::as_str).collect();
        filter_levels[i] = "+";
        prop_assert!(matches(&filter_levels.join("/"), &topic));
        filter_levels.truncate(i);
        filter_levels.push("#");
        prop_assert!(matches(&filter_levels.join("/"), &topic));
    }

    #[test]
    fn validators_never_panic(s in "\\PC{0,20}") {
        let _ = validate_topic_name(&s);
        let _ = validate_topic_filter(&s);
        let _ = parse_shared_subscription(&s);
    }
}
