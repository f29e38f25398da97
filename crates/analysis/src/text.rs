//! [`Text`]: the byte strings of a record, the short ones held inline.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bstr::{BStr, BString, ByteSlice};

/// How many bytes a [`Text`] holds without a heap block: as many as fit
/// beside the length in the 24 bytes a `BString` takes.
const INLINE: usize = 22;

/// An owned byte string that keeps up to 22 bytes inline and longer ones
/// in one exactly sized heap block.
///
/// A record holds a dozen small strings (sender, client host and IP,
/// protocol, recipient, remote host and IP, next queue id …), nearly all
/// shorter than that, and most records are dropped as soon as their
/// message is delivered: as `BString`s they were a dozen allocations and
/// frees per message. It reads as a [`BStr`] (`Deref`), and compares,
/// hashes and prints as one.
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Text {
    /// A copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Text {
        if bytes.len() <= INLINE {
            let mut inline = [0; INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            Text(Repr::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            })
        } else {
            Text(Repr::Heap(bytes.into()))
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(bytes) => bytes,
        }
    }

    /// A `BString` copy, for what outlives the record.
    pub fn to_bstring(&self) -> BString {
        BString::from(self.as_bytes())
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::new(b"")
    }
}

impl Deref for Text {
    type Target = BStr;

    fn deref(&self) -> &BStr {
        self.as_bytes().as_bstr()
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<BStr> for Text {
    fn as_ref(&self) -> &BStr {
        self.as_bytes().as_bstr()
    }
}

impl From<&[u8]> for Text {
    fn from(bytes: &[u8]) -> Text {
        Text::new(bytes)
    }
}

impl From<&BStr> for Text {
    fn from(bytes: &BStr) -> Text {
        Text::new(bytes)
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text::new(text.as_bytes())
    }
}

impl From<Vec<u8>> for Text {
    /// Keeps the vector's block (shrunk to fit) when it is too long to
    /// go inline.
    fn from(bytes: Vec<u8>) -> Text {
        if bytes.len() <= INLINE {
            Text::new(&bytes)
        } else {
            Text(Repr::Heap(bytes.into_boxed_slice()))
        }
    }
}

impl From<BString> for Text {
    fn from(bytes: BString) -> Text {
        Text::from(Vec::from(bytes))
    }
}

impl From<&Text> for BString {
    fn from(text: &Text) -> BString {
        text.to_bstring()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq<[u8]> for Text {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<BStr> for Text {
    fn eq(&self, other: &BStr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&BStr> for Text {
    fn eq(&self, other: &&BStr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<BString> for Text {
    fn eq(&self, other: &BString) -> bool {
        self.as_bytes() == other.as_slice()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_bytes().as_bstr(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_bytes().as_bstr(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_texts_read_back_the_same() {
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 200] {
            let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let text = Text::new(&bytes);
            assert_eq!(text.as_bytes(), bytes.as_slice());
            assert_eq!(Text::from(bytes.clone()), text);
            assert_eq!(text.to_bstring(), BString::from(bytes.clone()));
            assert_eq!(
                format!("{text:?}"),
                format!("{:?}", BString::from(bytes.clone()))
            );
            assert_eq!(matches!(text.0, Repr::Inline { .. }), len <= INLINE);
        }
    }

    #[test]
    fn a_text_takes_no_more_room_than_a_bstring() {
        assert_eq!(size_of::<Option<Text>>(), size_of::<Option<BString>>());
    }
}
