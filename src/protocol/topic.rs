//! Topic names, topic filters, shared subscriptions and the reference matcher (section 4.7
//! and 4.8 of MQTT 5.0, the same rules as 3.1.1).

/// Why a topic name, topic filter or shared subscription is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The topic or filter is empty.
    #[error("[MQTT-4.7.3-1] topic is empty")]
    Empty,
    /// The topic or filter encodes to more than 65,535 bytes.
    #[error("[MQTT-4.7.3-3] topic longer than 65,535 bytes")]
    TooLong,
    /// The topic or filter contains U+0000.
    #[error("[MQTT-4.7.3-2] topic contains U+0000")]
    NullCharacter,
    /// A topic name contains `+` or `#`.
    #[error("[MQTT-4.7.0-1] topic name contains a wildcard")]
    WildcardInName,
    /// `#` is not the last character and alone in its level.
    #[error("[MQTT-4.7.1-1] '#' must be last and alone in its level")]
    MultiLevelWildcardMisplaced,
    /// `+` is not alone in its level.
    #[error("[MQTT-4.7.1-2] '+' must be alone in its level")]
    SingleLevelWildcardMisplaced,
    /// `$share/` is not followed by a share name.
    #[error("[MQTT-4.8.2-1] empty share name")]
    EmptyShareName,
    /// The share name contains `+` or `#`.
    #[error("[MQTT-4.8.2-2] share name contains a wildcard")]
    InvalidShareName,
    /// The share name is not followed by `/` and a topic filter.
    #[error("[MQTT-4.8.2-2] share name not followed by a topic filter")]
    MissingSharedFilter,
}

/// A shared subscription `$share/{group}/{filter}`, borrowed from the filter string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharedFilter<'a> {
    /// The share name.
    pub group: &'a str,
    /// The topic filter that follows the share name.
    pub filter: &'a str,
}

const MAX_TOPIC_LEN: usize = 65_535;
const SHARE_PREFIX: &str = "$share/";

fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if s.contains('\0') {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Checks a topic name (PUBLISH, will topic): not empty, at most 65,535 bytes, no U+0000 and
/// no wildcard.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    check_common(topic)?;
    if has_wildcards(topic) {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Checks a topic filter: not empty, at most 65,535 bytes, no U+0000, `#` only as the whole
/// last level and `+` only as a whole level. A `$share/` prefix is not interpreted here; see
/// [`parse_shared_subscription`].
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::MultiLevelWildcardMisplaced);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::SingleLevelWildcardMisplaced);
        }
    }
    Ok(())
}

/// Splits a shared subscription `$share/{ShareName}/{filter}` into its share name and topic
/// filter, both validated. `Ok(None)` when `filter` does not start with `$share/`.
pub fn parse_shared_subscription(filter: &str) -> Result<Option<SharedFilter<'_>>, TopicError> {
    let Some(rest) = filter.strip_prefix(SHARE_PREFIX) else {
        return Ok(None);
    };
    let (group, inner) = match rest.split_once('/') {
        Some(parts) => parts,
        None if rest.is_empty() => return Err(TopicError::EmptyShareName),
        None if has_wildcards(rest) => return Err(TopicError::InvalidShareName),
        None => return Err(TopicError::MissingSharedFilter),
    };
    if group.is_empty() {
        return Err(TopicError::EmptyShareName);
    }
    if has_wildcards(group) {
        return Err(TopicError::InvalidShareName);
    }
    if inner.is_empty() {
        return Err(TopicError::MissingSharedFilter);
    }
    validate_topic_filter(inner)?;
    Ok(Some(SharedFilter { group, filter: inner }))
}

/// True when the string contains `+` or `#`.
pub fn has_wildcards(filter: &str) -> bool {
    filter.bytes().any(|b| b == b'+' || b == b'#')
}

/// The reference matcher: does the (valid, non-shared) topic `filter` match the topic name
/// `topic`? `+` matches exactly one level, `#` any number of remaining levels including the
/// parent level (`a/#` matches `a`), and topics starting with `$` are not matched by a filter
/// starting with a wildcard [MQTT-4.7.2-1].
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match level {
            "#" => return true,
            "+" => {
                if topic_levels.next().is_none() {
                    return false;
                }
            }
            _ => {
                if topic_levels.next() != Some(level) {
                    return false;
                }
            }
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests;
