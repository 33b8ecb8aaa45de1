#if canImport(Network)
import Foundation
import Tessera
import TesseraFFI
import XCTest

/// `URLSessionHttpTransport` against a local server, for the contract the
/// core relies on: requests sent as given, no redirects followed, no
/// cookies, status and headers before the body, the body in pieces as they
/// arrive, `cancel()` ending a waiting read, and errors that name the host
/// only.
final class URLSessionHttpTransportTests: XCTestCase {
    func testARequestIsSentAsGivenAndItsAnswerReadToTheEnd() async throws {
        let server = try await LoopbackServer.start { _, connection in
            await connection.respond(
                status: "201 Created",
                headers: ["Content-Type: application/json", "X-Reply: yes"],
                body: #"{"ok":true}"#
            )
        }
        defer { server.stop() }
        let transport = URLSessionHttpTransport()
        let response = try await transport.send(
            request: HttpRequest(
                method: "POST",
                url: server.url("/things?x=1"),
                headers: [
                    HttpHeader(name: "content-type", value: "application/json"),
                    HttpHeader(name: "user-agent", value: "tessera-tests"),
                ],
                body: Data(#"{"a":1}"#.utf8),
                timeoutMs: 10_000
            )
        )
        XCTAssertEqual(response.status, 201)
        XCTAssertEqual(value(of: "x-reply", in: response.headers), "yes")
        let body = try await readToEnd(response.body)
        XCTAssertEqual(String(decoding: body, as: UTF8.self), #"{"ok":true}"#)
        response.body.cancel()

        let sent = try XCTUnwrap(server.requests.first)
        XCTAssertEqual(sent.requestLine, "POST /things?x=1 HTTP/1.1")
        XCTAssertEqual(sent.header("content-type"), "application/json")
        XCTAssertEqual(sent.header("user-agent"), "tessera-tests")
        XCTAssertEqual(String(decoding: sent.body, as: UTF8.self), #"{"a":1}"#)
    }

    func testARedirectComesBackAsItIsAndCookiesAreNeitherKeptNorSent() async throws {
        let server = try await LoopbackServer.start { _, connection in
            await connection.respond(
                status: "302 Found",
                headers: ["Location: /elsewhere", "Set-Cookie: session=abc; Path=/"]
            )
        }
        defer { server.stop() }
        let transport = URLSessionHttpTransport()
        let first = try await transport.send(request: get(server.url("/start")))
        XCTAssertEqual(first.status, 302)
        XCTAssertEqual(value(of: "location", in: first.headers), "/elsewhere")
        first.body.cancel()
        let second = try await transport.send(request: get(server.url("/start")))
        XCTAssertEqual(second.status, 302)
        second.body.cancel()

        let requests = server.requests
        XCTAssertEqual(requests.map(\.requestLine), ["GET /start HTTP/1.1", "GET /start HTTP/1.1"])
        XCTAssertNil(requests.last?.header("cookie"), "the cookie of the first answer was sent back")
    }

    func testTheStatusArrivesBeforeTheBodyAndTheBodyPieceByPiece() async throws {
        let firstEvent = Gate()
        let secondEvent = Gate()
        let server = try await LoopbackServer.start { _, connection in
            await connection.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            await firstEvent.wait()
            await connection.write("data: one\n\n")
            await secondEvent.wait()
            await connection.write("data: two\n\n")
            connection.close()
        }
        defer { server.stop() }
        let transport = URLSessionHttpTransport()
        let request = get(server.url("/stream"))

        // No byte of the body has been written yet: a transport that waited
        // for the body would never return.
        let response = try await within(seconds: 10) { try await transport.send(request: request) }
        XCTAssertEqual(response.status, 200)

        // The body has not ended either: a transport that read it to the end
        // would not return the first event.
        firstEvent.open()
        let first = try await within(seconds: 10) { try await readEvent(response.body) }
        XCTAssertEqual(first, "data: one\n\n")

        secondEvent.open()
        let rest = try await within(seconds: 10) { try await readToEnd(response.body) }
        XCTAssertEqual(String(decoding: rest, as: UTF8.self), "data: two\n\n")
        let afterTheEnd = try await response.body.read()
        XCTAssertNil(afterTheEnd)
        response.body.cancel()
    }

    func testALongBodyWithoutNewlinesComesInPiecesOfAtMost16KiB() async throws {
        let text = String(repeating: "a", count: 40_000)
        let server = try await LoopbackServer.start { _, connection in
            await connection.respond(status: "200 OK", headers: ["Content-Type: application/json"], body: text)
        }
        defer { server.stop() }
        let response = try await URLSessionHttpTransport().send(request: get(server.url("/long")))
        var total = 0
        while let piece = try await response.body.read() {
            XCTAssertFalse(piece.isEmpty)
            XCTAssertLessThanOrEqual(piece.count, 16 * 1024)
            total += piece.count
        }
        XCTAssertEqual(total, text.utf8.count)
        response.body.cancel()
    }

    func testCloseEndsAWaitingReadAndReleasesTheConnection() async throws {
        let connectionClosed = Gate()
        let server = try await LoopbackServer.start { _, connection in
            await connection.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            await connection.waitForClose()
            connectionClosed.open()
        }
        defer { server.stop() }
        let response = try await URLSessionHttpTransport().send(request: get(server.url("/quiet")))
        let waiting = Task { try await response.body.read() }
        // Long enough for the read to be waiting for bytes that never come.
        try await Task.sleep(nanoseconds: 300_000_000)
        response.body.cancel()

        let piece = try await within(seconds: 10) { try await waiting.value }
        XCTAssertNil(piece, "a read ended by cancel() returns nil")
        let later = try await response.body.read()
        XCTAssertNil(later)
        try await within(seconds: 10) { await connectionClosed.wait() }
    }

    func testNoAnswerWithinTheTimeoutIsANetworkError() async throws {
        let server = try await LoopbackServer.start { _, connection in
            await connection.waitForClose()
        }
        defer { server.stop() }
        let started = Date()
        let reason = await networkFailure {
            try await URLSessionHttpTransport().send(request: get(server.url("/slow"), timeoutMs: 300))
        }
        XCTAssertTrue(reason.contains("127.0.0.1"), reason)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "the timeout bounds the wait for the status")
    }

    func testAFailedConnectionIsANetworkErrorNamingTheHostOnly() async throws {
        let server = try await LoopbackServer.start { _, connection in
            connection.close()
        }
        let url = server.url("/private/path?token=s3cret")
        // Nothing listens there any more (or, while the listener winds down,
        // the connection is closed at once): both fail.
        server.stop()
        let reason = await networkFailure {
            try await URLSessionHttpTransport().send(request: get(url))
        }
        XCTAssertTrue(reason.contains("127.0.0.1"), reason)
        XCTAssertFalse(reason.contains("s3cret"), "the reason quotes the query: \(reason)")
        XCTAssertFalse(reason.contains("/private"), "the reason quotes the path: \(reason)")
    }

    // MARK: - Helpers

    /// A GET request without headers or body.
    private func get(_ url: String, timeoutMs: UInt64 = 10_000) -> HttpRequest {
        HttpRequest(method: "GET", url: url, headers: [], body: Data(), timeoutMs: timeoutMs)
    }
}

/// The value of header `name` (any case) among `headers`.
private func value(of name: String, in headers: [HttpHeader]) -> String? {
    headers.first { $0.name.lowercased() == name.lowercased() }?.value
}

/// Reads a body to its end.
private func readToEnd(_ body: any HttpBody) async throws -> Data {
    var all = Data()
    while let piece = try await body.read() {
        all.append(piece)
    }
    return all
}

/// Reads one server-sent event: up to and including its blank line.
private func readEvent(_ body: any HttpBody) async throws -> String {
    var event = ""
    while !event.hasSuffix("\n\n") {
        guard let piece = try await body.read() else {
            break
        }
        event += String(decoding: piece, as: UTF8.self)
    }
    return event
}

/// The reason of the `TesseraError.Network` that `body` throws; fails the
/// test (and returns "") when it throws something else, or nothing.
private func networkFailure<T>(
    _ body: () async throws -> T,
    file: StaticString = #filePath,
    line: UInt = #line
) async -> String {
    do {
        _ = try await body()
        XCTFail("expected a network error, but the request succeeded", file: file, line: line)
    } catch let error as TesseraError {
        guard case let .Network(reason) = error else {
            XCTFail("expected a network error, got \(error)", file: file, line: line)
            return ""
        }
        return reason
    } catch {
        XCTFail("expected a TesseraError, got a \(type(of: error)): \(error)", file: file, line: line)
    }
    return ""
}

/// Thrown by `within(seconds:_:)` when time runs out.
private struct TimedOut: Error {}

/// `body`'s result, or `TimedOut` after `seconds`: a transport that hangs
/// fails the test instead of stalling the suite.
private func within<T: Sendable>(
    seconds: Double,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            throw TimedOut()
        }
        defer { group.cancelAll() }
        // Two tasks were added, so there is a first result.
        return try await group.next()!
    }
}
#endif
