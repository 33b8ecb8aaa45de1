import Foundation
import Tessera
import TesseraFFI
import XCTest

/// The shared OTP vectors (`tests/vectors/otp-vectors.json`: RFC 4226,
/// RFC 6238 and Steam Guard), through the Swift bindings and the wrapper,
/// the same file the Rust and Kotlin tests read.
final class VectorTests: XCTestCase {
    private struct VectorFile: Decodable {
        let vectors: [Vector]
    }

    private struct Vector: Decodable {
        let source: String
        let kind: String
        let algorithm: String
        let secretBase32: String
        let digits: Int
        let counter: UInt64?
        let period: UInt64?
        let time: UInt64?
        let code: String
    }

    private struct MalformedFile: Decodable {
        let cases: [Malformed]
    }

    private struct Malformed: Decodable {
        struct Repeat: Decodable {
            let marker: String
            let text: String
            let count: Int
        }

        let uri: String
        let field: String
        let why: String
        let `repeat`: Repeat?

        /// The URI with its repeated part written out.
        var expandedUri: String {
            guard let spec = self.`repeat` else { return uri }
            return uri.replacingOccurrences(
                of: spec.marker,
                with: String(repeating: spec.text, count: spec.count)
            )
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, from name: String) throws -> T {
        let url = repositoryRoot.appendingPathComponent("tests/vectors/\(name)")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: Data(contentsOf: url))
    }

    private static func loadVectors() throws -> [Vector] {
        let vectors = try decode(VectorFile.self, from: "otp-vectors.json").vectors
        XCTAssertFalse(vectors.isEmpty, "the vectors file is empty")
        return vectors
    }

    func testTimeBasedVectorsGiveTheirCodesAndWindows() async throws {
        let vectors = try Self.loadVectors()
        let (client, _, _) = try await makeUnlockedClient()
        var checked = 0
        for (index, vector) in vectors.enumerated() where vector.kind != "hotp" {
            let time = try XCTUnwrap(vector.time, "vector \(index) has no time")
            let period = try XCTUnwrap(vector.period, "vector \(index) has no period")
            let uri: String
            let expectedKind: OtpKind
            if vector.kind == "steam" {
                uri = "otpauth://steam/Vectors:vector-\(index)?secret=\(vector.secretBase32)&issuer=Vectors"
                expectedKind = .steam
            } else {
                uri =
                    "otpauth://totp/Vectors:vector-\(index)?secret=\(vector.secretBase32)"
                    + "&algorithm=\(vector.algorithm)&digits=\(vector.digits)&period=\(period)&issuer=Vectors"
                expectedKind = .totp
            }
            let added = try await client.addAccount(uri: uri)
            XCTAssertEqual(added.account.kind, expectedKind, "vector \(index)")
            XCTAssertEqual(Int(added.account.digits), vector.digits, "vector \(index)")
            XCTAssertEqual(UInt64(added.account.period), period, "vector \(index)")

            let codes = try await client.codes(at: time * 1000)
            let code = try XCTUnwrap(
                codes.first { $0.accountId == added.account.id },
                "vector \(index) has no code"
            )
            let step = time / period
            XCTAssertEqual(code.code, vector.code, "vector \(index) (\(vector.source))")
            XCTAssertEqual(code.counter, step, "vector \(index)")
            XCTAssertEqual(code.validFromMs, step * period * 1000, "vector \(index)")
            XCTAssertEqual(code.validUntilMs, (step + 1) * period * 1000, "vector \(index)")

            // The same code at the window's last millisecond; the next one
            // at its end.
            let last = try await client.codes(at: (step + 1) * period * 1000 - 1)
            XCTAssertEqual(last.first { $0.accountId == added.account.id }?.code, vector.code)
            let next = try await client.codes(at: (step + 1) * period * 1000)
            XCTAssertEqual(next.first { $0.accountId == added.account.id }?.counter, step + 1)
            checked += 1
        }
        XCTAssertEqual(checked, vectors.filter { $0.kind != "hotp" }.count)
        XCTAssertGreaterThan(checked, 0)
    }

    func testHotpVectorsComeInCounterOrderAndTheCounterIsSaved() async throws {
        let vectors = try Self.loadVectors()
            .filter { $0.kind == "hotp" }
            .sorted { ($0.counter ?? 0) < ($1.counter ?? 0) }
        XCTAssertFalse(vectors.isEmpty)
        let storage = InMemorySecureStorage()
        let (client, directory, _) = try await makeUnlockedClient(storage: storage)
        let first = try XCTUnwrap(vectors.first)
        let added = try await client.addAccount(
            uri: "otpauth://hotp/Vectors:hotp?secret=\(first.secretBase32)&counter=\(first.counter ?? 0)"
                + "&digits=\(first.digits)&issuer=Vectors"
        )
        XCTAssertEqual(added.account.kind, .hotp)

        for vector in vectors {
            let code = try await client.nextHotpCode(id: added.account.id)
            XCTAssertEqual(code.code, vector.code, "counter \(vector.counter ?? 0)")
            XCTAssertEqual(code.counter, vector.counter)
            XCTAssertNil(code.validFromMs)
            XCTAssertNil(code.validUntilMs)
        }
        // HOTP accounts have no code in the time-based list.
        let codes = try await client.codes()
        XCTAssertFalse(codes.contains { $0.accountId == added.account.id })

        // A second launch continues from the saved counter.
        let used = UInt64(vectors.count) + (first.counter ?? 0)
        let relaunched = try TesseraClient(config: offlineConfig(directory), storage: storage.copy(), http: nil)
        try await relaunched.unlockWithKeystore()
        let account = try await relaunched.accounts().first { $0.id == added.account.id }
        XCTAssertEqual(account?.counter, used)
        let next = try await relaunched.nextHotpCode(id: added.account.id)
        XCTAssertEqual(next.counter, used)
    }

    func testEveryMalformedUriIsRefusedNamingItsField() async throws {
        let cases = try Self.decode(MalformedFile.self, from: "malformed-uris.json").cases
        XCTAssertFalse(cases.isEmpty)
        let (client, _, _) = try await makeUnlockedClient()
        for (index, malformed) in cases.enumerated() {
            let error = await caughtError { try await client.addAccount(uri: malformed.expandedUri) }
            guard case let .invalidUri(field, reason)? = error else {
                XCTFail("case \(index) (\(malformed.why)): expected invalidUri, got \(String(describing: error))")
                continue
            }
            XCTAssertEqual(field, malformed.field, "case \(index): \(malformed.why)")
            XCTAssertFalse(reason.isEmpty, "case \(index)")
        }
        let accounts = try await client.accounts()
        XCTAssertTrue(accounts.isEmpty, "a malformed URI added an account")
    }
}
