//! [`Sparse`]: a value behind a pointer that is not allocated while it is empty.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// A type with a shared empty value, which [`Sparse`] lends while it holds nothing.
pub trait Empty: Default + PartialEq + 'static {
    /// The empty value (equal to `Default::default()`).
    fn empty() -> &'static Self;
}

/// A `T` kept behind a pointer, and not allocated at all while it is empty: the properties of
/// a PUBLISH, which most packets do not carry, without making every packet as large as all
/// of them (a packet is moved several times between the decoder and the session, and a
/// 160-byte field inline made each move copy 264 bytes).
///
/// Reads go through [`Deref`] (an empty one reads as [`Empty::empty`]); a write through
/// [`DerefMut`] allocates, so a hot path should look before it writes.
#[derive(Clone, Default)]
pub struct Sparse<T: Empty>(Option<Box<T>>);

impl<T: Empty> Sparse<T> {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The value, moved out (the default when empty).
    pub fn into_inner(self) -> T {
        self.0.map_or_else(T::default, |b| *b)
    }
}

impl<T: Empty> From<T> for Sparse<T> {
    fn from(value: T) -> Self {
        match value == *T::empty() {
            true => Sparse(None),
            false => Sparse(Some(Box::new(value))),
        }
    }
}

impl<T: Empty> Deref for Sparse<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.0 {
            Some(value) => value,
            None => T::empty(),
        }
    }
}

impl<T: Empty> DerefMut for Sparse<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

impl<T: Empty> PartialEq for Sparse<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Empty + Eq> Eq for Sparse<T> {}

impl<T: Empty + fmt::Debug> fmt::Debug for Sparse<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Eq)]
    struct Props {
        alias: Option<u16>,
        names: Vec<String>,
    }

    static EMPTY: Props = Props { alias: None, names: Vec::new() };

    impl Empty for Props {
        fn empty() -> &'static Self {
            &EMPTY
        }
    }

    #[test]
    fn an_empty_value_is_not_allocated_and_reads_as_empty() {
        let s = Sparse::from(Props::default());
        assert!(s.is_empty());
        assert_eq!(s.alias, None);
        assert_eq!(s, Sparse::default());
    }

    #[test]
    fn a_set_value_reads_back_and_compares_by_value() {
        let mut s = Sparse::from(Props { alias: Some(3), names: vec![] });
        assert!(!s.is_empty());
        assert_eq!(s.alias, Some(3));
        let mut t = Sparse::<Props>::default();
        *t = Props { alias: Some(3), names: vec![] };
        assert!(!t.is_empty(), "written through DerefMut: allocated");
        assert_eq!(s, t);
        s.names.push("a".into());
        assert_ne!(s, t);
        assert_eq!(format!("{s:?}"), r#"Props { alias: Some(3), names: ["a"] }"#);
    }
}
