//! The labels and relationship types of a query, kept as ranges of its resource.
//!
//! A name is written to the resource exactly as the query spells it, and nothing rewrites the
//! resource before it once it is there (only a list of constants is rewritten, and a label makes
//! its list not constant), so a range of the resource costs 8 bytes where a copy of the name
//! would cost an allocation.

/// At most this many distinct names are kept per query, so that checking a name for a repeat
/// stays cheap on absurd inputs; a real query has a handful.
const MAX_NAMES: usize = 128;

// Positions in the list are kept in a `u8`.
const _: () = assert!(MAX_NAMES < u8::MAX as usize);

/// A name as a byte range of the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    end: u32,
}

/// A name met during the walk.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Found {
    span: Span,
    /// A relationship type rather than a label.
    rel: bool,
}

/// The labels and relationship types of a [`Normalized`](super::Normalized).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Names {
    /// The labels, then the relationship types, each in order of first appearance.
    spans: Box<[Span]>,
    /// How many of `spans` are labels.
    labels: u8,
    /// Position in `spans` of the collection.
    collection: Option<u8>,
}

impl Names {
    pub(super) fn labels<'r>(
        &'r self,
        resource: &'r str,
    ) -> impl ExactSizeIterator<Item = &'r str> + DoubleEndedIterator + Clone {
        let labels = &self.spans[..self.labels as usize];
        labels.iter().map(|s| text(resource, *s))
    }

    pub(super) fn relationship_types<'r>(
        &'r self,
        resource: &'r str,
    ) -> impl ExactSizeIterator<Item = &'r str> + DoubleEndedIterator + Clone {
        let types = &self.spans[self.labels as usize..];
        types.iter().map(|s| text(resource, *s))
    }

    pub(super) fn collection<'r>(&self, resource: &'r str) -> Option<&'r str> {
        let span = *self.spans.get(usize::from(self.collection?))?;
        Some(text(resource, span))
    }

    /// Heap bytes held.
    pub(super) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[Span]>(&self.spans)
    }
}

/// The text of `span`; empty if `resource` was changed since (it is a public field) and the
/// range no longer fits, rather than a panic.
#[inline]
fn text(resource: &str, span: Span) -> &str {
    resource
        .get(span.start as usize..span.end as usize)
        .unwrap_or_default()
}

/// The names met so far in a walk.
pub(super) struct Collector<'s> {
    /// Scratch space reused across calls, empty on entry.
    found: &'s mut Vec<Found>,
}

impl<'s> Collector<'s> {
    pub(super) fn new(found: &'s mut Vec<Found>) -> Self {
        found.clear();
        Collector { found }
    }

    /// Records the name just written at `start..end` of `out`, unless it was met before as the
    /// same kind of name.
    // Out of line on purpose: labels are few next to the other tokens, and inlined into the walk
    // this code costs the hot loop more (registers, code size) than the call costs a label.
    #[inline(never)]
    pub(super) fn add(&mut self, out: &str, start: usize, end: usize, rel: bool) {
        if self.found.len() >= MAX_NAMES {
            return;
        }
        let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(end)) else {
            return;
        };
        // Compared as bytes: the spans are where names were written, so whole characters.
        let bytes = out.as_bytes();
        let Some(name) = bytes.get(start as usize..end as usize) else {
            return;
        };
        let seen = self.found.iter().any(|f| {
            f.rel == rel
                && f.span.end - f.span.start == end - start
                && bytes.get(f.span.start as usize..f.span.end as usize) == Some(name)
        });
        if !seen {
            self.found.push(Found {
                span: Span { start, end },
                rel,
            });
        }
    }

    /// The names of the finished resource `out`; `collection` is the text of the one name the
    /// summary lists, if it lists exactly one.
    pub(super) fn finish(&self, out: &str, collection: Option<&str>) -> Names {
        if self.found.is_empty() {
            return Names::default();
        }
        let mut spans = Vec::with_capacity(self.found.len());
        spans.extend(self.found.iter().filter(|f| !f.rel).map(|f| f.span));
        let labels = spans.len() as u8;
        if spans.len() < self.found.len() {
            spans.extend(self.found.iter().filter(|f| f.rel).map(|f| f.span));
        }
        let bytes = out.as_bytes();
        let collection = collection.and_then(|name| {
            let name = Some(name.as_bytes());
            let at = spans
                .iter()
                .position(|s| bytes.get(s.start as usize..s.end as usize) == name)?;
            Some(at as u8)
        });
        Names {
            spans: spans.into_boxed_slice(),
            labels,
            collection,
        }
    }
}
