import Foundation
import Tessera
import TesseraFFI
import XCTest

/// Push approval through the wrapper, without a server: payloads are read
/// strictly with typed errors, and the calls that need a pairing say so.
/// (Pairing and answering against the real server are covered by the Rust
/// tests in bindings/tests/push.rs and the Kotlin PushTest, over the same
/// library.)
final class PushTests: XCTestCase {
    private func unlockedClient() async throws -> TesseraClient {
        try await makeUnlockedClient().client
    }

    func testPayloadsAreReadStrictly() async throws {
        let client = try await unlockedClient()
        XCTAssertEqual(try client.handlePushPayload(Data(#"{"prompt_id":"p-1_A.b"}"#.utf8)), "p-1_A.b")
        for payload in ["", "[]", "{}", #"{"prompt_id":1}"#, #"{"prompt_id":"../x"}"#] {
            XCTAssertThrowsError(try client.handlePushPayload(Data(payload.utf8)), payload) { error in
                guard case .invalidPushPayload? = error as? TesseraClientError else {
                    return XCTFail("\(payload): \(error)")
                }
            }
        }
        await client.lock()
        XCTAssertEqual(try client.handlePushPayload(Data(#"{"prompt_id":"abc"}"#.utf8)), "abc")
    }

    func testCallsNeedAPairing() async throws {
        let client = try await unlockedClient()
        let accounts = try await client.pushAccounts()
        XCTAssertEqual(accounts, [])
        do {
            _ = try await client.fetchPrompt(accountId: "nope", promptId: "p")
            XCTFail("no such account")
        } catch TesseraClientError.accountNotFound {
        }
        do {
            _ = try await client.findPrompt(promptId: "p")
            XCTFail("nothing is paired")
        } catch TesseraClientError.promptUnavailable {
        }
        do {
            _ = try await client.pairPush(uri: "tessera-push://pair?v=1&codeSECRET", deviceName: "Test", delivery: .stream)
            XCTFail("a malformed URI")
        } catch let error as TesseraClientError {
            guard case let .invalidInput(reason) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertFalse(reason.contains("SECRET"))
        }
        var events = client.pushEvents(accountId: "nope").makeAsyncIterator()
        do {
            _ = try await events.next()
            XCTFail("no such account")
        } catch TesseraClientError.accountNotFound {
        }
    }
}
