//! What a client can be offered over an upstream connection that has just answered the
//! proxy's handshake, and the opening the proxy sends upstream in the first place.

use bolt::handshake::{self, MANIFEST_V1, SUPPORTED};
use bolt::{Answer, Handshake, ManifestChoice, Proposal, Version};

/// What a client can be served over an upstream connection that has just answered its
/// handshake.
#[derive(Debug)]
pub(super) struct Negotiation {
    /// The versions the upstream offered (manifest), or the one it chose.
    upstream: Vec<Version>,
    /// The upstream answered with a manifest and waits for the proxy's choice.
    upstream_manifest: bool,
    /// What the client may get, best first: the upstream's versions, and 4.4 through
    /// translation when the upstream speaks 5.x but not 4.4. A classic client gets exactly one.
    pub(super) client_offer: Vec<Version>,
}

impl Negotiation {
    /// `None` when the client can be offered nothing.
    pub(super) fn offer(
        answer: &Answer,
        manifest_client: bool,
        acceptable: &[Version],
    ) -> Option<Self> {
        let (upstream, upstream_manifest) = match answer {
            Answer::Version(v) => (vec![*v], false),
            Answer::Manifest(m) => (m.versions(&SUPPORTED), true),
        };
        let mut client_offer = upstream.clone();
        if !client_offer.contains(&Version::V4_4) && client_offer.iter().any(|v| v.major == 5) {
            client_offer.push(Version::V4_4);
        }
        if !manifest_client {
            // Passing through wins over translating, then the client's preference.
            let pick = acceptable
                .iter()
                .find(|v| upstream.contains(v))
                .or_else(|| acceptable.iter().find(|v| client_offer.contains(v)));
            client_offer = pick.into_iter().copied().collect();
        }
        (!client_offer.is_empty()).then_some(Negotiation {
            upstream,
            upstream_manifest,
            client_offer,
        })
    }

    /// For the client's `chosen` version: the client's version, the upstream's, and the
    /// manifest choice the upstream waits for, if it does. `None` when `chosen` was not
    /// offered.
    pub(super) fn serve(
        &self,
        chosen: Version,
    ) -> Option<(Version, Version, Option<ManifestChoice>)> {
        if !self.client_offer.contains(&chosen) {
            return None;
        }
        let upstream = if self.upstream.contains(&chosen) {
            chosen
        } else {
            // Translation: the client speaks 4.4, the upstream its best 5.x.
            self.upstream
                .iter()
                .copied()
                .filter(|v| v.major == 5)
                .max()?
        };
        let choice = self.upstream_manifest.then_some(ManifestChoice {
            version: Some(upstream),
            capabilities: 0,
        });
        Some((chosen, upstream, choice))
    }
}

/// The opening the proxy sends upstream: manifest v1 first when `manifest` (the only way to
/// reach Bolt 6.0; the client chose the manifest too), then `versions` as ranges, four slots
/// in all.
pub(super) fn opening(manifest: bool, versions: &[Version]) -> Handshake {
    let mut proposals = Vec::with_capacity(4);
    if manifest {
        proposals.push(Proposal::Manifest(MANIFEST_V1));
    }
    proposals.extend(handshake::proposals_for(versions));
    proposals.truncate(4);
    Handshake::new(&proposals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolt::Manifest;

    fn v(major: u8, minor: u8) -> Version {
        Version::new(major, minor)
    }

    #[test]
    fn classic_clients_get_one_version_passing_through_before_translating() {
        // neo4rs (4.4 only) to FalkorDB (5.7): translated.
        let n = Negotiation::offer(&Answer::Version(v(5, 7)), false, &[v(4, 4)]).unwrap();
        assert_eq!(n.client_offer, [v(4, 4)]);
        assert_eq!(n.serve(v(4, 4)), Some((v(4, 4), v(5, 7), None)));
        // A client that prefers 4.4 but takes 5.7 too is passed through.
        let n = Negotiation::offer(&Answer::Version(v(5, 7)), false, &[v(4, 4), v(5, 7)]).unwrap();
        assert_eq!(n.client_offer, [v(5, 7)]);
        // Nothing in common.
        assert!(Negotiation::offer(&Answer::Version(v(5, 7)), false, &[v(5, 8)]).is_none());
    }

    #[test]
    fn manifest_clients_get_what_the_upstream_serves_and_their_choice_goes_upstream() {
        // A classic upstream: its version, and 4.4 through translation.
        let n = Negotiation::offer(&Answer::Version(v(5, 7)), true, &[]).unwrap();
        assert_eq!(n.client_offer, [v(5, 7), v(4, 4)]);
        assert_eq!(n.serve(v(5, 7)), Some((v(5, 7), v(5, 7), None)));
        assert_eq!(n.serve(v(4, 4)), Some((v(4, 4), v(5, 7), None)));
        assert_eq!(n.serve(v(5, 8)), None);
        // A manifest upstream without 4.4: 4.4 is translated to its best 5.x.
        let upstream = Manifest::new(&[v(6, 1), v(6, 0), v(5, 8), v(5, 7)]);
        let n = Negotiation::offer(&Answer::Manifest(upstream), true, &[]).unwrap();
        assert_eq!(n.client_offer, [v(6, 0), v(5, 8), v(5, 7), v(4, 4)]);
        let chose = |version| {
            Some(ManifestChoice {
                version: Some(version),
                capabilities: 0,
            })
        };
        assert_eq!(n.serve(v(6, 0)), Some((v(6, 0), v(6, 0), chose(v(6, 0)))));
        assert_eq!(n.serve(v(4, 4)), Some((v(4, 4), v(5, 8), chose(v(5, 8)))));
        assert_eq!(n.serve(v(6, 1)), None, "not spoken by the proxy");
    }

    #[test]
    fn the_upstream_opening_puts_the_manifest_first() {
        let wanted = [v(5, 8), v(5, 7), v(5, 6), v(4, 4)];
        let hs = opening(true, &wanted);
        assert_eq!(hs.proposals[0], Proposal::Manifest(MANIFEST_V1));
        assert!(hs.accepts(v(5, 6)) && hs.accepts(v(4, 4)));
        let hs = opening(false, &wanted);
        assert!(!hs.offers_manifest());
        assert!(hs.accepts(v(5, 8)));
    }
}
