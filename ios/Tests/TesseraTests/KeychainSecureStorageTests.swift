#if canImport(Security)
import Foundation
import Tessera
import TesseraFFI
import XCTest

/// The real Keychain (Apple platforms only). The items go to a service of
/// their own and are removed afterwards. Where the test process may not use
/// the Keychain (an unsigned macOS test runner without a login keychain), the
/// tests are skipped rather than failed.
final class KeychainSecureStorageTests: XCTestCase {
    private func makeStorage() -> KeychainSecureStorage {
        #if os(macOS)
        // `swift test` on a Mac runs unsigned: no data-protection Keychain.
        let dataProtection = false
        #else
        let dataProtection = true
        #endif
        return KeychainSecureStorage(
            service: "org.tessera.tests.\(UUID().uuidString)",
            useDataProtectionKeychain: dataProtection
        )
    }

    private func skipWithoutKeychain(_ storage: KeychainSecureStorage) throws {
        do {
            try storage.set(key: "probe", value: "probe")
            try storage.delete(key: "probe")
        } catch {
            throw XCTSkip("the Keychain is not available here: \(error)")
        }
    }

    func testRoundTrip() throws {
        let storage = makeStorage()
        try skipWithoutKeychain(storage)
        defer { try? storage.delete(key: "kek") }

        XCTAssertNil(try storage.get(key: "kek"))
        try storage.set(key: "kek", value: "first")
        XCTAssertEqual(try storage.get(key: "kek"), "first")
        try storage.set(key: "kek", value: "second")
        XCTAssertEqual(try storage.get(key: "kek"), "second")
        try storage.delete(key: "kek")
        XCTAssertNil(try storage.get(key: "kek"))
        // Deleting a missing item is not an error.
        try storage.delete(key: "kek")
    }

    func testDeleteAllRemovesEveryItemOfTheService() throws {
        let storage = makeStorage()
        try skipWithoutKeychain(storage)
        try storage.set(key: "one", value: "1")
        try storage.set(key: "two", value: "2")
        try storage.deleteAll()
        XCTAssertNil(try storage.get(key: "one"))
        XCTAssertNil(try storage.get(key: "two"))
        try storage.deleteAll()
    }

    func testConcurrentWritersLeaveOneValue() async throws {
        let storage = makeStorage()
        try skipWithoutKeychain(storage)
        defer { try? storage.delete(key: "race") }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask { try storage.set(key: "race", value: "value-\(index)") }
            }
            try await group.waitForAll()
        }
        let value = try XCTUnwrap(try storage.get(key: "race"))
        XCTAssertTrue(value.hasPrefix("value-"))
    }

    func testTheKeychainOpensAVault() async throws {
        let storage = makeStorage()
        try skipWithoutKeychain(storage)
        defer { try? storage.deleteAll() }
        let directory = try makeDataDirectory()
        let client = try await TesseraClient.open(config: offlineConfig(directory), storage: storage, http: nil)
        _ = try await client.createVault()
        await client.lock()
        try await client.unlockWithKeystore()
        let unlocked = await client.isUnlocked()
        XCTAssertTrue(unlocked)
    }
}
#endif
