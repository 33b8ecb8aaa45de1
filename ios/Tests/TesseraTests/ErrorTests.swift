import Foundation
import Tessera
import TesseraFFI
import XCTest

/// Typed errors: every failure reaches Swift as a `TesseraClientError` case
/// the app can switch on.
private let bobUri = "otpauth://totp/Example:bob?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example"

final class ErrorTests: XCTestCase {
    func testEveryGeneratedCaseMapsToItsSwiftCase() {
        let pairs: [(TesseraError, TesseraClientError)] = [
            (.InvalidUri(field: "secret", reason: "r"), .invalidUri(field: "secret", reason: "r")),
            (.InvalidImage(reason: "r"), .invalidImage(reason: "r")),
            (.InvalidInput(reason: "r"), .invalidInput(reason: "r")),
            (.AccountNotFound(id: "x"), .accountNotFound(id: "x")),
            (.DuplicateAccount(name: "n"), .duplicateAccount(name: "n")),
            (.NoVault, .noVault),
            (.VaultExists, .vaultExists),
            (.Locked, .locked),
            (.WrongPassword, .wrongPassword),
            (.WrongRecoveryKey, .wrongRecoveryKey),
            (.KeystoreUnavailable(reason: "r"), .keystoreUnavailable(reason: "r")),
            (.Storage(reason: "r"), .storage(reason: "r")),
            (.VaultDamaged(reason: "r"), .vaultDamaged(reason: "r")),
            (.Time(reason: "r"), .time(reason: "r")),
            (.Network(reason: "r"), .network(reason: "r")),
            (.Internal(reason: "r"), .internalError(reason: "r")),
        ]
        for (generated, expected) in pairs {
            let mapped = TesseraClientError(generated)
            XCTAssertEqual(mapped, expected)
            XCTAssertEqual(TesseraClientError(mapped), mapped, "mapping twice changes nothing")
            XCTAssertFalse(mapped.errorDescription?.isEmpty ?? true, "\(mapped) has no description")
        }
        XCTAssertEqual(TesseraClientError.storage(reason: "busy").errorDescription, "secure storage failed: busy")
        XCTAssertTrue(TesseraClientError.keystoreUnavailable(reason: "r").needsManualUnlock)
        XCTAssertFalse(TesseraClientError.wrongPassword.needsManualUnlock)
    }

    func testForeignErrorsBecomeInternal() {
        struct Unrelated: Error {}
        guard case .internalError = TesseraClientError(Unrelated()) else {
            return XCTFail("an unrelated error must map to internalError")
        }
    }

    func testVaultStateErrors() async throws {
        let directory = try makeDataDirectory()
        let client = try TesseraClient(config: offlineConfig(directory), storage: InMemorySecureStorage(), http: nil)
        await assertThrows(.noVault) { try await client.unlockWithKeystore() }
        await assertThrows(.locked) { try await client.accounts() }
        await assertThrows(.locked) { try await client.codes() }
        await assertThrows(.locked) { try await client.addAccount(uri: bobUri) }

        _ = try await client.createVault()
        await assertThrows(.vaultExists) { try await client.createVault() }
    }

    func testAccountErrors() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        let added = try await client.addAccount(uri: bobUri)
        await assertThrows(.duplicateAccount(name: "Example (bob)")) {
            try await client.addAccount(uri: bobUri)
        }
        await assertThrows(.accountNotFound(id: "no-such-id")) { try await client.removeAccount(id: "no-such-id") }
        await assertThrows(.accountNotFound(id: "no-such-id")) {
            try await client.renameAccount(id: "no-such-id", issuer: "X", label: nil)
        }

        let farAway = await caughtError { try await client.moveAccount(id: added.account.id, to: 99) }
        guard case .invalidInput? = farAway else {
            return XCTFail("moving past the end: got \(String(describing: farAway))")
        }
        let negative = await caughtError { try await client.moveAccount(id: added.account.id, to: -1) }
        guard case .invalidInput? = negative else {
            return XCTFail("a negative position: got \(String(describing: negative))")
        }
        let timeBased = await caughtError { try await client.nextHotpCode(id: added.account.id) }
        guard case .invalidInput? = timeBased else {
            return XCTFail("an HOTP code of a TOTP account: got \(String(describing: timeBased))")
        }
    }

    func testUriErrorsNameTheField() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        let cases: [(String, String)] = [
            ("not a uri", "uri"),
            ("otpauth://totp/x?secret=", "secret"),
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5", "algorithm"),
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=4", "digits"),
        ]
        for (uri, field) in cases {
            let error = await caughtError { try await client.addAccount(uri: uri) }
            guard case let .invalidUri(actual, reason)? = error else {
                XCTFail("\(field): got \(String(describing: error))")
                continue
            }
            XCTAssertEqual(actual, field)
            XCTAssertFalse(reason.contains("JBSWY3DPEHPK3PXP"), "a reason must never echo the secret")
        }
    }

    func testStorageFailuresSurfaceAsKeystoreErrors() async throws {
        let storage = InMemorySecureStorage()
        let (_, directory, _) = try await makeUnlockedClient(storage: storage)
        let broken = storage.copy()
        broken.failEveryCall(reason: "the device is locked")
        let client = try TesseraClient(config: offlineConfig(directory), storage: broken, http: nil)
        let error = await caughtError { try await client.unlockWithKeystore() }
        XCTAssertEqual(error?.needsManualUnlock, true, "got \(String(describing: error))")
    }

    func testConfigurationErrors() async {
        let noFolder = await caughtError {
            try await TesseraClient.open(config: AuthenticatorConfig(dataDir: ""), storage: nil, http: nil)
        }
        guard case .invalidInput? = noFolder else {
            return XCTFail("an empty data folder: got \(String(describing: noFolder))")
        }
        let badSource = await caughtError {
            try await TesseraClient.open(
                config: AuthenticatorConfig(dataDir: "/tmp", timeSources: ["gopher://time.example"]),
                storage: nil,
                http: nil
            )
        }
        guard case .time? = badSource else {
            return XCTFail("a bad time source: got \(String(describing: badSource))")
        }
    }

    func testClockWithoutSourcesIsUnknownAndCannotSync() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        let status = await client.clockStatus()
        XCTAssertEqual(status.state, .unknown)
        XCTAssertNil(status.offsetMs)
        XCTAssertFalse(status.message.isEmpty)
        let error = await caughtError { try await client.syncClock() }
        guard case .time? = error else {
            return XCTFail("syncing without sources: got \(String(describing: error))")
        }
        // Without an estimate, trusted time is the device clock.
        let deviceMs = UInt64(Date().timeIntervalSince1970 * 1000)
        let trusted = client.trustedNowMs()
        XCTAssertLessThan(max(trusted, deviceMs) - min(trusted, deviceMs), 2000)
    }
}
