//! http-edge's behaviours, one module per claim, in one test binary: the edge in-process in
//! front of a small router ([`support`]), driven by a raw HTTP/1.1 client that sends exactly
//! the bytes an abusive or a normal client would.
//!
//! The modules run on parallel threads of this process, each with an edge of its own on a port
//! of its own; the attack test raises the process's soft file-descriptor limit if it must.

mod support;

mod connections_past_the_cap_get_503_and_a_slot_frees_when_one_closes;
mod idle_connections_close_after_the_idle_timeout_and_headers_after_theirs;
mod requests_past_the_in_flight_cap_get_503_at_once;
mod serves_keep_alive_with_the_peer_address_like_axum_serve;
mod shutdown_answers_in_flight_closes_idle_and_bounds_the_drain;
mod slow_bodies_are_cut_off_after_the_body_read_timeout;
mod slow_headers_are_closed_while_a_normal_client_keeps_its_latency;
