//! The phrases of the summary: which keyword starts a graph clause (`MATCH`, `OPTIONAL MATCH`,
//! `DETACH DELETE`, `CALL db.labels`), which starts a schema or administration command and how
//! its verb and noun make one phrase (`CREATE OR REPLACE RANGE INDEX` reads `CREATE INDEX`).
//!
//! The classes of words come from the flags of the keyword table ([`Flags`]): a command starts
//! at a [`VERB`](Flags::VERB) (or at `CREATE` followed by a [`COMMAND`](Flags::COMMAND) word),
//! skips [`MODIFIER`](Flags::MODIFIER)s and ends at its [`NOUN`](Flags::NOUN). Inside a command
//! every word is read as the command's, and soft keywords are keywords.

use super::frame::FrameKind;
use super::statement::{Admin, Statement};
use super::walker::{CYPHER_VERSION, LABEL_EXPR, Sig, Walker};
use crate::keyword::{Flags, Kw};
use crate::lexer::TokenKind;
use crate::summary::Phrase;

fn is_name(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Identifier
            | TokenKind::QuotedIdentifier
            | TokenKind::Keyword
            | TokenKind::Boolean
    )
}

impl Walker<'_, '_> {
    /// Before `t` is handled: ends the procedure name being read, or settles the pending
    /// command's phrase, when `t` cannot continue them.
    #[inline(always)]
    pub(super) fn settle_phrases(&mut self, t: &Sig) {
        if self.stmt.procedure.is_some() && !self.continue_procedure(t) {
            self.finish_procedure();
        }
        if let Admin::Pending(_) = self.stmt.admin
            && !t.flags.has(Flags::MODIFIER)
        {
            let noun = t.flags.has(Flags::NOUN).then_some(t.kw);
            self.resolve_admin(noun);
        }
    }

    /// Clause bookkeeping for a word used as a keyword.
    pub(super) fn keyword(&mut self, t: &Sig) {
        let next_kw = if self.next.kind == TokenKind::Keyword {
            self.next.kw
        } else {
            Kw::None
        };
        if self.stmt.admin != Admin::Off {
            if t.kw == Kw::Is {
                self.after_is();
            }
            return;
        }
        match t.kw {
            Kw::Match => {
                self.stmt.on_action = self.prev_kw == Kw::On;
                if !self.stmt.on_action && self.prev_kw != Kw::Optional {
                    self.clause(Phrase::Fixed("MATCH"));
                }
            }
            Kw::Optional if next_kw == Kw::Match => self.clause(Phrase::Fixed("OPTIONAL MATCH")),
            Kw::Create => {
                self.stmt.on_action = self.prev_kw == Kw::On;
                if !self.stmt.on_action {
                    if self.next.flags.has(Flags::COMMAND) {
                        self.stmt.admin = Admin::Pending("CREATE");
                    } else {
                        self.clause(Phrase::Fixed("CREATE"));
                    }
                }
            }
            Kw::Merge => self.clause(Phrase::Fixed("MERGE")),
            Kw::Insert => self.clause(Phrase::Fixed("INSERT")),
            Kw::Remove => self.clause(Phrase::Fixed("REMOVE")),
            Kw::Unwind => self.clause(Phrase::Fixed("UNWIND")),
            Kw::Foreach => self.clause(Phrase::Fixed("FOREACH")),
            Kw::Set => {
                let part_of_merge =
                    self.stmt.on_action && matches!(self.prev_kw, Kw::Create | Kw::Match);
                if !part_of_merge {
                    self.clause(Phrase::Fixed("SET"));
                }
            }
            Kw::Delete if !matches!(self.prev_kw, Kw::Detach | Kw::Nodetach) => {
                self.clause(Phrase::Fixed("DELETE"))
            }
            Kw::Detach if next_kw == Kw::Delete => self.clause(Phrase::Fixed("DETACH DELETE")),
            Kw::Nodetach if next_kw == Kw::Delete => self.clause(Phrase::Fixed("DELETE")),
            Kw::Load if next_kw == Kw::Csv => self.clause(Phrase::Fixed("LOAD CSV")),
            Kw::Call => {
                let optional = self.prev_kw == Kw::Optional;
                if is_name(self.next.kind) && !self.next.unterminated {
                    let start = self.next.start as usize;
                    self.stmt.procedure = Some((optional, start, start));
                } else {
                    self.clause(Phrase::Fixed(if optional {
                        "OPTIONAL CALL"
                    } else {
                        "CALL"
                    }));
                }
            }
            // `LOAD CSV WITH HEADERS`: still the LOAD CSV clause.
            Kw::With if next_kw == Kw::Headers => {}
            Kw::Start if next_kw == Kw::Database => self.stmt.admin = Admin::Pending("START"),
            Kw::Cypher => self.ctx |= CYPHER_VERSION,
            Kw::In if self.prev == TokenKind::RBrace && self.last_closed == FrameKind::Block => {
                self.stmt.tx_options = true
            }
            Kw::Is => self.after_is(),
            Kw::Where if self.frames.inside(FrameKind::Rel) => {
                self.frames.top_mut().rel_where = true
            }
            _ => {
                if t.flags.has(Flags::ENDS_CLAUSE) {
                    self.summary.current = None;
                    self.stmt.tx_options = false;
                }
                if t.flags.has(Flags::FALLBACK) {
                    self.first_clause(t.kw.text());
                }
                if t.flags.has(Flags::VERB) {
                    self.stmt.admin = Admin::Pending(t.kw.text());
                }
            }
        }
    }

    /// `IS` followed by a name is the `IS Label` syntax.
    fn after_is(&mut self) {
        let n = self.next;
        let label = match n.kind {
            TokenKind::Identifier | TokenKind::QuotedIdentifier => true,
            TokenKind::Keyword => !n.flags.has(Flags::PREDICATE),
            TokenKind::Bang | TokenKind::Percent => true,
            _ => false,
        };
        if label {
            self.ctx |= LABEL_EXPR;
        }
    }

    fn first_clause(&mut self, text: &'static str) {
        if self.summary.first_clause.is_none() {
            self.summary.first_clause = Some(text);
        }
    }

    fn clause(&mut self, phrase: Phrase) {
        self.summary.begin(phrase);
        self.stmt.tx_options = false;
    }

    /// Settles a pending command verb into its phrase.
    pub(super) fn resolve_admin(&mut self, noun: Option<Kw>) {
        if let Admin::Pending(verb) = self.stmt.admin {
            self.stmt.admin = Admin::On;
            self.summary.begin(match noun {
                Some(noun) => Phrase::Command(verb, noun.text()),
                // `CREATE UNIQUE (a)-[:R]->(b)`, Cypher 3's pattern clause: a graph clause.
                None if verb == "CREATE" => Phrase::Fixed(verb),
                None => Phrase::Verb(verb),
            });
        }
    }

    /// Extends the procedure name being read with `t`, or says it ended.
    fn continue_procedure(&mut self, t: &Sig) -> bool {
        let Some((optional, start, end)) = self.stmt.procedure else {
            return false;
        };
        let expecting_name = end == start || self.prev == TokenKind::Dot;
        if expecting_name && is_name(t.kind) && !t.unterminated {
            self.stmt.procedure = Some((optional, start, t.end as usize));
            true
        } else {
            !expecting_name && t.kind == TokenKind::Dot && is_name(self.next.kind)
        }
    }

    pub(super) fn finish_procedure(&mut self) {
        if let Some((optional, start, end)) = self.stmt.procedure.take() {
            self.clause(Phrase::Procedure {
                optional,
                start,
                end,
            });
        }
    }

    /// `;`: the next statement starts afresh.
    pub(super) fn end_statement(&mut self) {
        self.finish_procedure();
        self.resolve_admin(None);
        self.stmt = Statement::default();
        self.summary.current = None;
        // A `;` inside brackets is never part of a constant: collapsing it away would change the
        // statement structure that a second normalisation sees.
        self.frames.elem_other();
    }
}
