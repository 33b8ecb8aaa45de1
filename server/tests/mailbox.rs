//! The transfer mailbox (`docs/push-protocol.md` §10.3) on the real server:
//! write once, read once, wait for the envelope, size limit, bad ids.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Server, http};

fn create(server: &Server) -> String {
    let created = http(&server.addr, "POST", "/v1/mailbox", &[], b"").expect(201);
    assert!(created["expires_at"].as_i64().unwrap() > common::now() as i64);
    created["id"].as_str().unwrap().to_string()
}

#[test]
fn an_envelope_is_written_once_and_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let id = create(&server);
    let path = format!("/v1/mailbox/{id}");

    // Empty: a read without waiting says so with 204.
    assert_eq!(http(&server.addr, "GET", &path, &[], b"").status, 204);

    let envelope = vec![b'x'; 300_000];
    http(&server.addr, "PUT", &path, &[], &envelope).expect(201);
    http(&server.addr, "PUT", &path, &[], b"other").expect_error(409, "mailbox_used");

    let read = http(&server.addr, "GET", &path, &[], b"");
    assert_eq!((read.status, read.body.len()), (200, envelope.len()));
    assert_eq!(read.body, envelope);
    // Single read: it is gone.
    http(&server.addr, "GET", &path, &[], b"").expect_error(404, "not_found");
    http(&server.addr, "PUT", &path, &[], b"again").expect_error(404, "not_found");
}

#[test]
fn a_waiting_read_gets_the_envelope_as_soon_as_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let id = create(&server);
    let path = format!("/v1/mailbox/{id}");
    let addr = server.addr.clone();
    let writer = std::thread::spawn({
        let path = path.clone();
        move || {
            std::thread::sleep(Duration::from_millis(500));
            http(&addr, "PUT", &path, &[], b"{\"sealed\":true}").expect(201);
        }
    });
    let started = Instant::now();
    let read = http(&server.addr, "GET", &format!("{path}?wait=20"), &[], b"");
    writer.join().unwrap();
    assert_eq!(read.status, 200);
    assert_eq!(read.body, b"{\"sealed\":true}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn limits_and_bad_ids_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let id = create(&server);
    let path = format!("/v1/mailbox/{id}");
    let too_big = vec![b'x'; tessera_core::transfer::device_to_device::MAX_ENVELOPE_BYTES + 1];
    http(&server.addr, "PUT", &path, &[], &too_big).expect_error(413, "body_too_large");
    http(&server.addr, "PUT", &path, &[], b"").expect_error(400, "bad_request");
    http(&server.addr, "GET", "/v1/mailbox/not-an-id", &[], b"").expect_error(404, "not_found");
    let unknown = "AAAAAAAAAAAAAAAAAAAAAA";
    http(
        &server.addr,
        "GET",
        &format!("/v1/mailbox/{unknown}"),
        &[],
        b"",
    )
    .expect_error(404, "not_found");
    // The receiver can cancel.
    http(&server.addr, "DELETE", &path, &[], b"").expect(200);
    http(&server.addr, "PUT", &path, &[], b"late").expect_error(404, "not_found");
}
