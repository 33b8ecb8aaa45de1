import Foundation
import Tessera
import TesseraFFI
import XCTest

/// A `SecureStorage` in memory, as the Linux tests' stand-in for the
/// Keychain. Thread-safe (Rust calls it from its own threads); it can be told
/// to fail every call, to test how storage failures surface.
final class InMemorySecureStorage: SecureStorage, @unchecked Sendable {
    // All state is guarded by `lock`.
    private let lock = NSLock()
    private var values: [String: String] = [:]
    private var failure: String?

    init() {}

    /// A copy holding the same values (a second app launch on the same device).
    func copy() -> InMemorySecureStorage {
        let other = InMemorySecureStorage()
        other.values = locked { values }
        return other
    }

    /// How many keys are stored.
    var count: Int {
        locked { values.count }
    }

    /// Makes every later call throw `TesseraError.Storage(reason:)`, or
    /// (with `nil`) succeed again.
    func failEveryCall(reason: String?) {
        locked { failure = reason }
    }

    func get(key: String) throws -> String? {
        try locked {
            try failIfAsked()
            return values[key]
        }
    }

    func set(key: String, value: String) throws {
        try locked {
            try failIfAsked()
            values[key] = value
        }
    }

    func delete(key: String) throws {
        try locked {
            try failIfAsked()
            values[key] = nil
        }
    }

    private func failIfAsked() throws {
        if let failure {
            throw TesseraError.Storage(reason: failure)
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// The repository's root, found from this file's path
/// (`ios/Tests/TesseraTests/TestSupport.swift`).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // TesseraTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // ios
    .deletingLastPathComponent()  // the repository

/// A fresh, empty folder for one test's vault.
func makeDataDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("tessera-swift-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A configuration that never touches the network (no time sources).
func offlineConfig(_ directory: URL) -> AuthenticatorConfig {
    AuthenticatorConfig(dataDir: directory.path, timeSources: [])
}

/// A client over a new vault protected by `storage` only (no password, so
/// no Argon2id cost), unlocked.
func makeUnlockedClient(
    storage: InMemorySecureStorage = InMemorySecureStorage()
) async throws -> (client: TesseraClient, directory: URL, recoveryKey: String) {
    let directory = try makeDataDirectory()
    let client = try await TesseraClient.open(config: offlineConfig(directory), storage: storage, http: nil)
    let recoveryKey = try await client.createVault()
    return (client, directory, recoveryKey)
}

/// Asserts that `body` throws exactly `expected`.
func assertThrows<T>(
    _ expected: TesseraClientError,
    _ body: () async throws -> T,
    file: StaticString = #filePath,
    line: UInt = #line
) async {
    do {
        _ = try await body()
        XCTFail("expected \(expected), but the call succeeded", file: file, line: line)
    } catch let error as TesseraClientError {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("expected \(expected), got a \(type(of: error)): \(error)", file: file, line: line)
    }
}

/// Returns the `TesseraClientError` that `body` throws, failing the test
/// when it throws nothing or something else.
func caughtError<T>(
    _ body: () async throws -> T,
    file: StaticString = #filePath,
    line: UInt = #line
) async -> TesseraClientError? {
    do {
        _ = try await body()
        XCTFail("expected an error, but the call succeeded", file: file, line: line)
    } catch let error as TesseraClientError {
        return error
    } catch {
        XCTFail("expected a TesseraClientError, got a \(type(of: error)): \(error)", file: file, line: line)
    }
    return nil
}
