//! The one keyword table of the crate.
//!
//! Every word the lexer may report as [`TokenKind::Keyword`](crate::TokenKind::Keyword) is listed
//! once in [`keywords!`] below, with flags that tell the normaliser how the word behaves. Lookup is
//! case-insensitive through an open-addressing index built at compile time, so recognising a word
//! costs one short hash and one comparison.

/// The word is a keyword only inside administration/schema commands (`SHOW INDEXES`,
/// `CREATE CONSTRAINT ... IS NODE KEY`) and after `IN TRANSACTIONS`; elsewhere it is an
/// ordinary identifier, because names like `node`, `user`, `type` or `status` are common variables.
pub(crate) const SOFT: u8 = 1;
/// The word is also a function name (`count(*)`, `exists(n.p)`, `any(x IN l WHERE ...)`): followed
/// by `(` it is an identifier and keeps its case.
pub(crate) const FUNC: u8 = 2;

macro_rules! keywords {
    ($($name:ident $text:literal $flags:expr;)*) => {
        /// A keyword of the table; `None` is "not a keyword".
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
        #[repr(u8)]
        pub(crate) enum Kw {
            #[default]
            None = 0,
            $($name,)*
        }

        /// (upper-case text, keyword, flags), in the order of the enum (index = discriminant - 1).
        pub(crate) const KEYWORDS: &[(&str, Kw, u8)] = &[$(($text, Kw::$name, $flags),)*];
    };
}

keywords! {
    // clauses and sub-clauses
    Match "MATCH" 0; Optional "OPTIONAL" 0; Where "WHERE" 0; Return "RETURN" 0; With "WITH" 0;
    Unwind "UNWIND" 0; As "AS" 0; Create "CREATE" 0; Merge "MERGE" 0; Delete "DELETE" 0;
    Detach "DETACH" 0; Nodetach "NODETACH" 0; Set "SET" 0; Remove "REMOVE" 0; Call "CALL" 0;
    Yield "YIELD" 0; Union "UNION" 0; Distinct "DISTINCT" 0; Order "ORDER" 0; By "BY" 0;
    Asc "ASC" 0; Ascending "ASCENDING" 0; Desc "DESC" 0; Descending "DESCENDING" 0;
    Skip "SKIP" 0; Limit "LIMIT" 0; Offset "OFFSET" 0; On "ON" 0; Foreach "FOREACH" 0;
    Load "LOAD" 0; Csv "CSV" 0; Headers "HEADERS" 0; From "FROM" 0;
    Fieldterminator "FIELDTERMINATOR" 0; Using "USING" 0; Periodic "PERIODIC" 0;
    Commit "COMMIT" 0; Scan "SCAN" 0; Join "JOIN" 0; Use "USE" 0; Finish "FINISH" 0;
    Insert "INSERT" 0; Let "LET" 0; Filter "FILTER" FUNC; Next "NEXT" 0; Start "START" 0;
    // prefixes
    Explain "EXPLAIN" 0; Profile "PROFILE" 0; Cypher "CYPHER" 0;
    // expressions and operators
    And "AND" 0; Or "OR" 0; Xor "XOR" 0; Not "NOT" 0; In "IN" 0; Starts "STARTS" 0;
    Ends "ENDS" 0; Contains "CONTAINS" 0; Is "IS" 0; Null "NULL" 0; True "TRUE" 0;
    False "FALSE" 0; Case "CASE" 0; When "WHEN" 0; Then "THEN" 0; Else "ELSE" 0; End "END" 0;
    Exists "EXISTS" FUNC; Count "COUNT" FUNC; Collect "COLLECT" FUNC; All "ALL" FUNC;
    Any "ANY" FUNC; None_ "NONE" FUNC; Single "SINGLE" FUNC; Shortest "SHORTEST" 0;
    Typed "TYPED" 0; Normalized "NORMALIZED" 0; Of "OF" 0; For "FOR" 0; If "IF" 0;
    // schema (reserved words in Neo4j)
    Index "INDEX" 0; Constraint "CONSTRAINT" 0; Unique "UNIQUE" 0; Require "REQUIRE" 0;
    Assert "ASSERT" 0; Drop "DROP" 0; Show "SHOW" 0;
    // administration verbs
    Alter "ALTER" 0; Grant "GRANT" 0; Deny "DENY" 0; Revoke "REVOKE" 0; Rename "RENAME" 0;
    Terminate "TERMINATE" 0; Enable "ENABLE" 0; Deallocate "DEALLOCATE" 0;
    Reallocate "REALLOCATE" 0; Dryrun "DRYRUN" 0; Stop "STOP" 0;
    // soft keywords: nouns of commands
    Indexes "INDEXES" SOFT; Constraints "CONSTRAINTS" SOFT; User "USER" SOFT;
    Users "USERS" SOFT; Role "ROLE" SOFT; Roles "ROLES" SOFT; Database "DATABASE" SOFT;
    Databases "DATABASES" SOFT; Alias "ALIAS" SOFT; Aliases "ALIASES" SOFT;
    Procedure "PROCEDURE" SOFT; Procedures "PROCEDURES" SOFT; Function "FUNCTION" SOFT;
    Functions "FUNCTIONS" SOFT; Transaction "TRANSACTION" SOFT;
    Transactions "TRANSACTIONS" SOFT; Setting "SETTING" SOFT; Settings "SETTINGS" SOFT;
    Privilege "PRIVILEGE" SOFT; Privileges "PRIVILEGES" SOFT; Server "SERVER" SOFT;
    Servers "SERVERS" SOFT;
    // soft keywords: modifiers of commands and of CALL { } IN TRANSACTIONS
    Replace "REPLACE" SOFT; Range "RANGE" SOFT | FUNC; Text "TEXT" SOFT; Point "POINT" SOFT | FUNC;
    Lookup "LOOKUP" SOFT; Fulltext "FULLTEXT" SOFT; Vector "VECTOR" SOFT | FUNC;
    Btree "BTREE" SOFT; Composite "COMPOSITE" SOFT; Current "CURRENT" SOFT;
    Default "DEFAULT" SOFT; Home "HOME" SOFT; Built "BUILT" SOFT; Defined "DEFINED" SOFT;
    Existence "EXISTENCE" SOFT; Node "NODE" SOFT; Relationship "RELATIONSHIP" SOFT;
    Rel "REL" SOFT; Key "KEY" SOFT; Property "PROPERTY" SOFT; Type "TYPE" SOFT | FUNC;
    Options "OPTIONS" SOFT; Rows "ROWS" SOFT; Concurrent "CONCURRENT" SOFT;
    Error "ERROR" SOFT; Continue "CONTINUE" SOFT; Break "BREAK" SOFT; Fail "FAIL" SOFT;
    Report "REPORT" SOFT; Status "STATUS" SOFT; To "TO" SOFT; Graph "GRAPH" SOFT;
    Password "PASSWORD" SOFT; Wait "WAIT" SOFT; Nowait "NOWAIT" SOFT;
    Nfc "NFC" SOFT; Nfd "NFD" SOFT; Nfkc "NFKC" SOFT; Nfkd "NFKD" SOFT;
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

/// The keyword spelled by `word` (any case), with its flags; `(Kw::None, 0)` for other words.
#[inline]
pub(crate) fn lookup(word: &[u8]) -> (Kw, u8) {
    if word.len() < 2 || word.len() > MAX_LEN {
        return (Kw::None, 0);
    }
    let mut slot = fold_hash(word) & (INDEX_SIZE - 1);
    loop {
        let entry = INDEX[slot];
        if entry == 0 {
            return (Kw::None, 0);
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
