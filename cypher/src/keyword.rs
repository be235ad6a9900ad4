//! The one keyword table of the crate.
//!
//! Every word the lexer may report as [`TokenKind::Keyword`](crate::TokenKind::Keyword) is listed
//! once in [`keywords!`] below, with flags that tell the normaliser how the word behaves. Lookup is
//! case-insensitive through an open-addressing index built at compile time, so recognising a word
//! costs one short hash and one comparison.

/// How a keyword behaves: a small set of flags, one set per entry of [`keywords!`]. The lexer
/// hands them over with the token, so the normaliser tests a flag instead of listing keywords.
/// Every token that is not a keyword carries [`Flags::NONE`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Flags(u16);

impl Flags {
    /// No flag.
    pub(crate) const NONE: Flags = Flags(0);
    /// The word is a keyword only inside administration/schema commands (`SHOW INDEXES`,
    /// `CREATE CONSTRAINT ... IS NODE KEY`) and after `IN TRANSACTIONS`; elsewhere it is an
    /// ordinary identifier, because names like `node`, `user`, `type` or `status` are common
    /// variables.
    pub(crate) const SOFT: Flags = Flags(1);
    /// The word is also a function name (`count(*)`, `exists(n.p)`, `any(x IN l WHERE ...)`):
    /// followed by `(` it is an identifier and keeps its case.
    pub(crate) const FUNC: Flags = Flags(1 << 1);
    /// The word can start a statement inside `{ }`, which makes the braces a subquery block
    /// rather than a map.
    pub(crate) const CLAUSE: Flags = Flags(1 << 2);
    /// Followed by `{`, the word opens a subquery block (`CALL { }`, `EXISTS { }`).
    pub(crate) const BLOCK: Flags = Flags(1 << 3);
    /// Used as a keyword, the word ends an operand (`NULL`, `END`): a following `-` is binary.
    pub(crate) const OPERAND: Flags = Flags(1 << 4);
    /// Ends the current graph clause: labels after it belong to none (`RETURN`, `WITH`).
    pub(crate) const ENDS_CLAUSE: Flags = Flags(1 << 5);
    /// Names a query that has no graph clause (`RETURN`, `ORDER`, `LIMIT`, ...).
    pub(crate) const FALLBACK: Flags = Flags(1 << 6);
    /// After `IS`, the word makes a predicate (`IS NULL`, `IS NODE KEY`) rather than the
    /// `IS Label` syntax.
    pub(crate) const PREDICATE: Flags = Flags(1 << 7);
    /// Starts an administration or schema command (`SHOW`, `DROP`, `GRANT`, ...).
    pub(crate) const VERB: Flags = Flags(1 << 8);
    /// Ends a command's phrase (`SHOW INDEXES`, `CREATE USER`).
    pub(crate) const NOUN: Flags = Flags(1 << 9);
    /// May stand between a command verb and its noun (`CREATE OR REPLACE RANGE INDEX`).
    pub(crate) const MODIFIER: Flags = Flags(1 << 10);
    /// After `CREATE`, the word makes it a command rather than the graph clause.
    pub(crate) const COMMAND: Flags = Flags(1 << 11);

    /// Both sets; `const`, so that the table can be built at compile time.
    pub(crate) const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Whether any flag of `other` is set.
    #[inline(always)]
    pub(crate) const fn has(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }
}

macro_rules! keywords {
    ($($name:ident $text:literal $($flag:ident)|*;)*) => {
        /// A keyword of the table; `None` is "not a keyword".
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
        #[repr(u8)]
        pub(crate) enum Kw {
            #[default]
            None = 0,
            $($name,)*
        }

        /// (upper-case text, keyword, flags), in the order of the enum (index = discriminant - 1).
        pub(crate) const KEYWORDS: &[(&str, Kw, Flags)] =
            &[$(($text, Kw::$name, Flags::NONE$(.union(Flags::$flag))*),)*];
    };
}

// Each entry: name, text, then its flags joined by `|` (none for most words).
keywords! {
    // clauses and sub-clauses
    Match "MATCH" CLAUSE; Optional "OPTIONAL" CLAUSE; Where "WHERE";
    Return "RETURN" CLAUSE | ENDS_CLAUSE | FALLBACK; With "WITH" CLAUSE | ENDS_CLAUSE | FALLBACK;
    Unwind "UNWIND" CLAUSE; As "AS"; Create "CREATE" CLAUSE; Merge "MERGE" CLAUSE;
    Delete "DELETE" CLAUSE; Detach "DETACH" CLAUSE; Nodetach "NODETACH" CLAUSE; Set "SET" CLAUSE;
    Remove "REMOVE" CLAUSE; Call "CALL" CLAUSE | BLOCK; Yield "YIELD" FALLBACK;
    Union "UNION" CLAUSE | ENDS_CLAUSE | FALLBACK; Distinct "DISTINCT"; Order "ORDER" FALLBACK;
    By "BY"; Asc "ASC"; Ascending "ASCENDING"; Desc "DESC"; Descending "DESCENDING";
    Skip "SKIP" FALLBACK; Limit "LIMIT" FALLBACK; Offset "OFFSET" FALLBACK; On "ON";
    Foreach "FOREACH" CLAUSE; Load "LOAD" CLAUSE; Csv "CSV"; Headers "HEADERS"; From "FROM";
    Fieldterminator "FIELDTERMINATOR"; Using "USING"; Periodic "PERIODIC"; Commit "COMMIT";
    Scan "SCAN"; Join "JOIN"; Use "USE" CLAUSE; Finish "FINISH" CLAUSE | ENDS_CLAUSE | FALLBACK;
    Insert "INSERT" CLAUSE; Let "LET" CLAUSE | ENDS_CLAUSE | FALLBACK;
    Filter "FILTER" FUNC | CLAUSE | ENDS_CLAUSE | FALLBACK; Next "NEXT" ENDS_CLAUSE | FALLBACK;
    Start "START";
    // prefixes
    Explain "EXPLAIN"; Profile "PROFILE"; Cypher "CYPHER";
    // expressions and operators
    And "AND"; Or "OR" MODIFIER | COMMAND; Xor "XOR"; Not "NOT" PREDICATE;
    In "IN" MODIFIER; Starts "STARTS"; Ends "ENDS"; Contains "CONTAINS"; Is "IS";
    Null "NULL" OPERAND | PREDICATE; True "TRUE" PREDICATE; False "FALSE" PREDICATE; Case "CASE";
    When "WHEN" FALLBACK; Then "THEN"; Else "ELSE"; End "END" OPERAND;
    Exists "EXISTS" FUNC | BLOCK; Count "COUNT" FUNC | BLOCK; Collect "COLLECT" FUNC | BLOCK;
    All "ALL" FUNC | MODIFIER; Any "ANY" FUNC; None_ "NONE" FUNC; Single "SINGLE" FUNC;
    Shortest "SHORTEST"; Typed "TYPED" PREDICATE; Normalized "NORMALIZED" PREDICATE; Of "OF";
    For "FOR"; If "IF";
    // schema (reserved words in Neo4j)
    Index "INDEX" NOUN | COMMAND; Constraint "CONSTRAINT" NOUN | COMMAND;
    Unique "UNIQUE" PREDICATE | MODIFIER | COMMAND; Require "REQUIRE"; Assert "ASSERT";
    Drop "DROP" VERB; Show "SHOW" VERB;
    // administration verbs
    Alter "ALTER" VERB; Grant "GRANT" VERB; Deny "DENY" VERB; Revoke "REVOKE" VERB;
    Rename "RENAME" VERB; Terminate "TERMINATE" VERB; Enable "ENABLE" VERB;
    Deallocate "DEALLOCATE" VERB; Reallocate "REALLOCATE" VERB; Dryrun "DRYRUN" VERB;
    Stop "STOP" VERB;
    // soft keywords: nouns of commands
    Indexes "INDEXES" SOFT | NOUN | COMMAND; Constraints "CONSTRAINTS" SOFT | NOUN | COMMAND;
    User "USER" SOFT | NOUN | COMMAND; Users "USERS" SOFT | NOUN | COMMAND;
    Role "ROLE" SOFT | NOUN | COMMAND; Roles "ROLES" SOFT | NOUN | COMMAND;
    Database "DATABASE" SOFT | NOUN | COMMAND; Databases "DATABASES" SOFT | NOUN | COMMAND;
    Alias "ALIAS" SOFT | NOUN | COMMAND; Aliases "ALIASES" SOFT | NOUN | COMMAND;
    Procedure "PROCEDURE" SOFT | NOUN | COMMAND; Procedures "PROCEDURES" SOFT | NOUN | COMMAND;
    Function "FUNCTION" SOFT | NOUN | COMMAND; Functions "FUNCTIONS" SOFT | NOUN | COMMAND;
    Transaction "TRANSACTION" SOFT | NOUN | COMMAND;
    Transactions "TRANSACTIONS" SOFT | NOUN | COMMAND;
    Setting "SETTING" SOFT | NOUN | COMMAND; Settings "SETTINGS" SOFT | NOUN | COMMAND;
    Privilege "PRIVILEGE" SOFT | NOUN | COMMAND; Privileges "PRIVILEGES" SOFT | NOUN | COMMAND;
    Server "SERVER" SOFT | NOUN | COMMAND; Servers "SERVERS" SOFT | NOUN | COMMAND;
    // soft keywords: modifiers of commands and of CALL { } IN TRANSACTIONS
    Replace "REPLACE" SOFT | MODIFIER | COMMAND; Range "RANGE" SOFT | FUNC | MODIFIER | COMMAND;
    Text "TEXT" SOFT | MODIFIER | COMMAND; Point "POINT" SOFT | FUNC | MODIFIER | COMMAND;
    Lookup "LOOKUP" SOFT | MODIFIER | COMMAND; Fulltext "FULLTEXT" SOFT | MODIFIER | COMMAND;
    Vector "VECTOR" SOFT | FUNC | MODIFIER | COMMAND; Btree "BTREE" SOFT | MODIFIER | COMMAND;
    Composite "COMPOSITE" SOFT | MODIFIER | COMMAND; Current "CURRENT" SOFT | MODIFIER | COMMAND;
    Default "DEFAULT" SOFT | MODIFIER | COMMAND; Home "HOME" SOFT | MODIFIER | COMMAND;
    Built "BUILT" SOFT | MODIFIER | COMMAND; Defined "DEFINED" SOFT | MODIFIER | COMMAND;
    Existence "EXISTENCE" SOFT | MODIFIER | COMMAND;
    Node "NODE" SOFT | PREDICATE | MODIFIER | COMMAND;
    Relationship "RELATIONSHIP" SOFT | PREDICATE | MODIFIER | COMMAND;
    Rel "REL" SOFT | PREDICATE | MODIFIER | COMMAND; Key "KEY" SOFT | PREDICATE | MODIFIER | COMMAND;
    Property "PROPERTY" SOFT | MODIFIER | COMMAND; Type "TYPE" SOFT | FUNC | MODIFIER | COMMAND;
    Options "OPTIONS" SOFT; Rows "ROWS" SOFT; Concurrent "CONCURRENT" SOFT;
    Error "ERROR" SOFT; Continue "CONTINUE" SOFT; Break "BREAK" SOFT; Fail "FAIL" SOFT;
    Report "REPORT" SOFT; Status "STATUS" SOFT; To "TO" SOFT; Graph "GRAPH" SOFT;
    Password "PASSWORD" SOFT; Wait "WAIT" SOFT; Nowait "NOWAIT" SOFT;
    Nfc "NFC" SOFT | PREDICATE; Nfd "NFD" SOFT | PREDICATE; Nfkc "NFKC" SOFT | PREDICATE;
    Nfkd "NFKD" SOFT | PREDICATE;
}

/// Longest keyword, in bytes; longer words are never looked up.
const MAX_LEN: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < KEYWORDS.len() {
        if KEYWORDS[i].0.len() > max {
            max = KEYWORDS[i].0.len();
        }
        i += 1;
    }
    max
};

const INDEX_SIZE: usize = 1024;

/// Hash of a word (at least 2 bytes) from its length, first two and last bytes, with ASCII
/// letters folded to lower case (`| 0x20`): constant time, and distinct enough over the table
/// that probes stay short. The same function serves the compile-time build of [`INDEX`] and the
/// lookup.
#[inline(always)]
const fn fold_hash(word: &[u8]) -> usize {
    let len = word.len();
    let a = (word[0] | 0x20) as usize;
    let b = (word[1] | 0x20) as usize;
    let z = (word[len - 1] | 0x20) as usize;
    let h = a.wrapping_mul(0x9E37)
        ^ b.wrapping_mul(0x1F3)
        ^ z.wrapping_mul(0x2B5)
        ^ len.wrapping_mul(0x6D1);
    h ^ (h >> 7)
}

/// Open-addressing index: slot -> 1 + position in [`KEYWORDS`], 0 for empty.
const INDEX: [u8; INDEX_SIZE] = {
    let mut index = [0u8; INDEX_SIZE];
    let mut i = 0;
    while i < KEYWORDS.len() {
        let mut slot = fold_hash(KEYWORDS[i].0.as_bytes()) & (INDEX_SIZE - 1);
        while index[slot] != 0 {
            slot = (slot + 1) & (INDEX_SIZE - 1);
        }
        index[slot] = (i + 1) as u8;
        i += 1;
    }
    index
};

// The index stores positions in a u8 and must keep free slots for probing to terminate.
const _: () = assert!(KEYWORDS.len() < 255 && KEYWORDS.len() * 2 < INDEX_SIZE);

/// The keyword spelled by `word` (any case), with its flags; `(Kw::None, Flags::NONE)` for
/// other words.
#[inline]
pub(crate) fn lookup(word: &[u8]) -> (Kw, Flags) {
    if word.len() < 2 || word.len() > MAX_LEN {
        return (Kw::None, Flags::NONE);
    }
    let mut slot = fold_hash(word) & (INDEX_SIZE - 1);
    loop {
        let entry = INDEX[slot];
        if entry == 0 {
            return (Kw::None, Flags::NONE);
        }
        let (text, kw, flags) = KEYWORDS[entry as usize - 1];
        if text.len() == word.len() && text.as_bytes().eq_ignore_ascii_case(word) {
            return (kw, flags);
        }
        slot = (slot + 1) & (INDEX_SIZE - 1);
    }
}

impl Kw {
    /// Canonical (upper-case) spelling.
    #[inline]
    pub(crate) fn text(self) -> &'static str {
        match self {
            Kw::None => "",
            kw => KEYWORDS[kw as usize - 1].0,
        }
    }

    /// The keyword's flags ([`Flags::NONE`] for `None`).
    #[inline]
    pub(crate) fn flags(self) -> Flags {
        match self {
            Kw::None => Flags::NONE,
            kw => KEYWORDS[kw as usize - 1].2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_is_found_in_any_case_and_in_enum_order() {
        for (i, (text, kw, _)) in KEYWORDS.iter().enumerate() {
            assert_eq!(*kw as usize, i + 1, "{text} out of order");
            assert_eq!(lookup(text.as_bytes()).0, *kw, "{text}");
            assert_eq!(lookup(text.to_lowercase().as_bytes()).0, *kw, "{text}");
            assert_eq!(kw.text(), *text);
            assert!(text.bytes().all(|b| b.is_ascii_uppercase()), "{text}");
        }
    }

    #[test]
    fn probes_stay_short() {
        let mut longest = 0;
        for (text, _, _) in KEYWORDS {
            let mut slot = fold_hash(text.as_bytes()) & (INDEX_SIZE - 1);
            let mut probes = 1;
            while KEYWORDS[INDEX[slot] as usize - 1].0 != *text {
                slot = (slot + 1) & (INDEX_SIZE - 1);
                probes += 1;
            }
            longest = longest.max(probes);
        }
        assert!(longest <= 4, "longest probe {longest}");
    }

    #[test]
    fn other_words_are_not_keywords() {
        for word in [
            "n", "name", "MATCHES", "matc", "person", "x1", "_", "MATCH_",
        ] {
            assert_eq!(lookup(word.as_bytes()).0, Kw::None, "{word}");
        }
    }
}
