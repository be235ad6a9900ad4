//! What the keywords read so far say about the statement being read: the state the walker keeps
//! for [`super::phrase`], which reads and updates it.

/// Where the statement is in an administration or schema command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum Admin {
    /// Not in a command.
    #[default]
    Off,
    /// The verb was read, the noun not yet.
    Pending(&'static str),
    /// In a command: its phrase is settled.
    On,
}

/// What the keywords read so far say about the statement being read; reset at `;`.
#[derive(Default)]
pub(super) struct Statement {
    pub(super) admin: Admin,
    /// Just after `ON CREATE` / `ON MATCH` of a MERGE: the `SET` is part of the MERGE.
    pub(super) on_action: bool,
    /// After `CALL { } IN`: the words of `IN TRANSACTIONS OF ? ROWS ...` are keywords.
    pub(super) tx_options: bool,
    /// `CALL proc.name` being read: (optional, start of the name, end so far).
    pub(super) procedure: Option<(bool, usize, usize)>,
}

impl Statement {
    /// Whether soft keywords ([`Flags::SOFT`](crate::keyword::Flags::SOFT)) are keywords here rather than names.
    #[inline]
    pub(super) fn soft_keywords(&self) -> bool {
        self.admin != Admin::Off || self.tx_options
    }
}
