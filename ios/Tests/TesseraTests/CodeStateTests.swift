import Foundation
import Tessera
import TesseraFFI
import XCTest

/// The ticking `AsyncStream` of code states, and what a state computes.
final class CodeStateTests: XCTestCase {
    /// A TOTP account whose code changes every second, so a few ticks cross
    /// several period boundaries.
    private static let everySecondUri =
        "otpauth://totp/Ticks:every-second?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=1&issuer=Ticks"
    private static let hotpUri =
        "otpauth://hotp/Ticks:counter?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=0&issuer=Ticks"

    func testTheStreamYieldsAtOnceThenAtEachWholeSecond() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        let totp = try await client.addAccount(uri: Self.everySecondUri)
        let hotp = try await client.addAccount(uri: Self.hotpUri)

        let subscribedMs = client.trustedNowMs()
        var ticks: [[CodeState]] = []
        var arrivals: [Date] = []
        for await states in client.codeStates() {
            ticks.append(states)
            arrivals.append(Date())
            if ticks.count == 4 {
                break
            }
        }
        XCTAssertEqual(ticks.count, 4)

        // The first element comes at once, not at the next second.
        let firstMs = try XCTUnwrap(ticks.first?.first?.nowMs)
        XCTAssertGreaterThanOrEqual(firstMs, subscribedMs)
        XCTAssertLessThan(firstMs - subscribedMs, 900)

        var previousSecond: UInt64?
        for (index, states) in ticks.enumerated() {
            // Accounts in display order; all states at one instant.
            XCTAssertEqual(states.map(\.id), [totp.account.id, hotp.account.id])
            let nowMs = try XCTUnwrap(states.first?.nowMs)
            XCTAssertTrue(states.allSatisfy { $0.nowMs == nowMs })

            let state = states[0]
            let code = try XCTUnwrap(state.code, "tick \(index): the TOTP account has no code")
            let second = nowMs / 1000
            XCTAssertEqual(code.counter, second, "tick \(index): the code is the one of its second")
            XCTAssertEqual(code.validFromMs, second * 1000)
            XCTAssertEqual(code.validUntilMs, (second + 1) * 1000)
            XCTAssertEqual(state.periodMs, 1000)
            XCTAssertEqual(state.remainingMs, (second + 1) * 1000 - nowMs)
            XCTAssertEqual(state.remainingSeconds, 1)
            XCTAssertEqual(code.code.count, 6)
            XCTAssertNil(states[1].code, "HOTP codes are taken one at a time, not streamed")

            if let previousSecond {
                XCTAssertGreaterThan(second, previousSecond, "tick \(index) is in a later second")
                // Woken at the start of the second (generous for busy machines).
                XCTAssertLessThan(nowMs % 1000, 750, "tick \(index) came late in its second")
            }
            previousSecond = second
        }

        // About one second apart.
        for index in 2..<arrivals.count {
            let gap = arrivals[index].timeIntervalSince(arrivals[index - 1])
            XCTAssertGreaterThan(gap, 0.25, "ticks \(index - 1) and \(index)")
            XCTAssertLessThan(gap, 2.5, "ticks \(index - 1) and \(index)")
        }
    }

    func testTheStreamEndsWhenTheVaultLocks() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        _ = try await client.addAccount(uri: Self.everySecondUri)
        var iterator = client.codeStates().makeAsyncIterator()
        let first = await iterator.next()
        XCTAssertEqual(first?.count, 1)

        await client.lock()
        // At most one element computed before the lock may still be buffered.
        var next = await iterator.next()
        if next != nil {
            next = await iterator.next()
        }
        XCTAssertNil(next, "the stream goes on after lock()")
    }

    func testAStreamOfALockedVaultEndsAtOnce() async throws {
        let directory = try makeDataDirectory()
        let client = try TesseraClient(config: offlineConfig(directory), storage: InMemorySecureStorage(), http: nil)
        var count = 0
        for await _ in client.codeStates() {
            count += 1
        }
        XCTAssertEqual(count, 0)
    }

    func testAStateAtAFixedInstant() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        let added = try await client.addAccount(
            uri: "otpauth://totp/Example:carol?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example"
        )
        // RFC 6238's first instant, 59 s: the second 30-second step, 1 s left.
        let states = try await client.codeStates(at: 59_000)
        let state = try XCTUnwrap(states.first)
        XCTAssertEqual(state.id, added.account.id)
        XCTAssertEqual(state.displayName, "Example (carol)")
        XCTAssertEqual(state.code?.code, "287082")
        XCTAssertEqual(state.displayCode, "287 082")
        XCTAssertEqual(state.remainingMs, 1000)
        XCTAssertEqual(state.remainingSeconds, 1)
        XCTAssertEqual(state.periodMs, 30_000)
        XCTAssertEqual(try XCTUnwrap(state.fractionRemaining), 1.0 / 30.0, accuracy: 1e-9)

        let fresh = try await client.codeStates(at: 60_000)
        XCTAssertEqual(fresh.first?.remainingSeconds, 30)
        XCTAssertEqual(fresh.first?.fractionRemaining, 1)
    }

    func testCodesAreGroupedForReading() {
        XCTAssertEqual(CodeFormat.grouped("PV9M4"), "PV9M4")
        XCTAssertEqual(CodeFormat.grouped("123456"), "123 456")
        XCTAssertEqual(CodeFormat.grouped("1234567"), "123 4567")
        XCTAssertEqual(CodeFormat.grouped("12345678"), "1234 5678")
        XCTAssertEqual(CodeFormat.grouped("123456789"), "123 456 789")
        XCTAssertEqual(CodeFormat.grouped("1234567890"), "12345 67890")
    }

    func testAStateWithoutACodeHasNoCountdown() {
        let account = AccountRecord(
            id: "id",
            issuer: "",
            label: "push only",
            kind: nil,
            algorithm: nil,
            digits: 0,
            period: 0,
            counter: 0,
            tags: [],
            weakSecret: false
        )
        let state = CodeState(account: account, code: nil, nowMs: 1_000)
        XCTAssertEqual(state.displayName, "push only")
        XCTAssertNil(state.displayCode)
        XCTAssertNil(state.remainingMs)
        XCTAssertNil(state.remainingSeconds)
        XCTAssertNil(state.periodMs)
        XCTAssertNil(state.fractionRemaining)
    }
}
