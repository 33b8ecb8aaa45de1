import Foundation
import Tessera
import TesseraFFI
import XCTest

/// The APNs hand-off routes payloads, tokens and answers to the installed
/// `PushPayloadHandler`, and does nothing without one.
final class PushHandoffTests: XCTestCase {
    /// Records what it is given and returns a fixed prompt: a test double for
    /// the routing (the real handler is tested in `PushTests`).
    private final class RecordingHandler: PushPayloadHandler, @unchecked Sendable {
        private let lock = NSLock()
        private var payloads: [Data] = []
        private var tokens: [Data] = []
        private var answers: [PushAnswer] = []
        let prompt: PushPrompt?

        init(prompt: PushPrompt?) {
            self.prompt = prompt
        }

        var received: (payloads: [Data], tokens: [Data], answers: [PushAnswer]) {
            lock.lock()
            defer { lock.unlock() }
            return (payloads, tokens, answers)
        }

        func registerDeviceToken(_ token: Data) async throws {
            record { tokens.append(token) }
        }

        func handleRemoteNotification(_ payload: Data) async throws -> PushPrompt? {
            record { payloads.append(payload) }
            return prompt
        }

        func answer(_ answer: PushAnswer, to prompt: PushPrompt) async throws -> AnswerOutcome {
            record { answers.append(answer) }
            return .approved
        }

        private func record(_ body: () -> Void) {
            lock.lock()
            defer { lock.unlock() }
            body()
        }
    }

    private static let prompt = PushPrompt(
        accountId: "account-1",
        id: "challenge-1",
        site: "Example",
        user: "alice",
        ip: "192.0.2.1",
        location: "Lyon, France",
        userAgent: "Firefox",
        app: nil,
        mode: .entry,
        choices: [],
        issuedAt: 1_700_000_000,
        expiresAt: 1_700_000_060,
        secondsLeft: 60,
        timeChecked: true
    )

    func testWithoutAHandlerNothingHappens() async throws {
        let handoff = PushHandoff()
        let hasHandler = await handoff.hasHandler
        XCTAssertFalse(hasHandler)
        let delivery = await handoff.deliver(Data("{}".utf8))
        XCTAssertEqual(delivery, .noHandler)
        let registered = try await handoff.registerDeviceToken(Data([1, 2, 3]))
        XCTAssertFalse(registered)
        do {
            _ = try await handoff.answer(.deny, to: Self.prompt)
            XCTFail("answering without a handler must fail")
        } catch let error as PushHandoffError {
            XCTAssertEqual(error, .noHandler)
        }
    }

    func testPayloadsTokensAndAnswersReachTheHandler() async throws {
        let handler = RecordingHandler(prompt: Self.prompt)
        let handoff = PushHandoff(handler: handler)
        let payload = try XCTUnwrap(PushHandoff.payload(fromUserInfo: ["prompt_id": "challenge-1", "aps": ["content-available": 1]]))

        let delivery = await handoff.deliver(payload)
        XCTAssertEqual(delivery, .prompt(Self.prompt))
        var prompts = handoff.prompts.makeAsyncIterator()
        let published = await prompts.next()
        XCTAssertEqual(published, Self.prompt)

        let registered = try await handoff.registerDeviceToken(Data([0xAB, 0xCD]))
        XCTAssertTrue(registered)
        let outcome = try await handoff.answer(.approve(number: "123456"), to: Self.prompt)
        XCTAssertEqual(outcome, .approved)

        let received = handler.received
        XCTAssertEqual(received.payloads, [payload])
        XCTAssertEqual(received.tokens, [Data([0xAB, 0xCD])])
        XCTAssertEqual(received.answers, [.approve(number: "123456")])
    }

    func testAHandlerWithNothingToShowPublishesNothing() async throws {
        let handoff = PushHandoff(handler: RecordingHandler(prompt: nil))
        let delivery = await handoff.deliver(Data("{}".utf8))
        XCTAssertEqual(delivery, .nothingToDo)
        let unreadable = await handoff.deliver(nil)
        XCTAssertEqual(unreadable, .unreadable)
    }

    func testUserInfoBecomesSortedJson() throws {
        let data = try XCTUnwrap(PushHandoff.payload(fromUserInfo: ["b": 1, "a": "x", 7: "dropped"]))
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"{"a":"x","b":1}"#)
        XCTAssertNil(PushHandoff.payload(fromUserInfo: ["date": Date()]))
    }

    func testExpiry() {
        XCTAssertFalse(Self.prompt.isExpired(at: Date(timeIntervalSince1970: 1_700_000_059)))
        XCTAssertTrue(Self.prompt.isExpired(at: Date(timeIntervalSince1970: 1_700_000_060)))
        XCTAssertEqual(TesseraPushHandler.hexToken(Data([0x0A, 0xFF])), "0aff")
    }
}
