import Foundation
import Tessera
import TesseraFFI
import XCTest

/// The vault across launches, with the in-memory `SecureStorage` standing in
/// for the Keychain.
private let totpUri =
    "otpauth://totp/Example:alice@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example"

final class PersistenceTests: XCTestCase {
    func testANewVaultStoresOneKeyAndReopensWithoutInput() async throws {
        let storage = InMemorySecureStorage()
        let directory = try makeDataDirectory()
        let first = try await TesseraClient.open(config: offlineConfig(directory), storage: storage, http: nil)
        let vaultExistsBefore = await first.vaultExists()
        XCTAssertFalse(vaultExistsBefore)

        let recoveryKey = try await first.createVault()
        XCTAssertFalse(recoveryKey.isEmpty)
        XCTAssertEqual(storage.count, 1, "the keystore slot keeps one key in the storage")
        let unlocked = await first.isUnlocked()
        XCTAssertTrue(unlocked)

        let added = try await first.addAccount(uri: totpUri)
        XCTAssertEqual(added.account.issuer, "Example")
        XCTAssertEqual(added.account.label, "alice@example.com")
        XCTAssertEqual(added.account.algorithm, .sha1)
        XCTAssertTrue(added.warnings.isEmpty)
        try await first.setTags(id: added.account.id, tags: ["work"])
        try await first.renameAccount(id: added.account.id, issuer: nil, label: "alice")
        let instant: UInt64 = 1_700_000_000_000
        let codesBefore = try await first.codes(at: instant)

        // A second launch over the same folder and Keychain.
        let second = try TesseraClient(config: offlineConfig(directory), storage: storage.copy(), http: nil)
        let vaultExists = await second.vaultExists()
        XCTAssertTrue(vaultExists)
        let lockedAtLaunch = await second.isUnlocked()
        XCTAssertFalse(lockedAtLaunch)
        try await second.unlockWithKeystore()

        let accounts = try await second.accounts()
        XCTAssertEqual(accounts.count, 1)
        XCTAssertEqual(accounts.first?.id, added.account.id)
        XCTAssertEqual(accounts.first?.label, "alice")
        XCTAssertEqual(accounts.first?.issuer, "Example")
        XCTAssertEqual(accounts.first?.tags, ["work"])
        let codesAfter = try await second.codes(at: instant)
        XCTAssertEqual(codesAfter, codesBefore)

        let info = try await second.vaultInfo()
        XCTAssertEqual(info.accounts, 1)
        XCTAssertEqual(Set(info.slots.map(\.kind)), ["keystore", "recovery"])
    }

    func testTheRecoveryKeyOpensTheVaultOnANewDeviceAndRestoresTheKeystoreSlot() async throws {
        let (client, directory, recoveryKey) = try await makeUnlockedClient()
        _ = try await client.addAccount(uri: totpUri)

        // A restore onto a new device: the vault file came along, the
        // Keychain item (…ThisDeviceOnly) did not.
        let newDevice = InMemorySecureStorage()
        let restored = try TesseraClient(config: offlineConfig(directory), storage: newDevice, http: nil)
        let error = await caughtError { try await restored.unlockWithKeystore() }
        XCTAssertEqual(error?.needsManualUnlock, true, "got \(String(describing: error))")

        await assertThrows(.wrongRecoveryKey) {
            try await restored.unlock(recoveryKey: "AAAA-BBBB-CCCC-DDDD")
        }
        // Any case, dashes optional.
        let typed = recoveryKey.lowercased().replacingOccurrences(of: "-", with: "")
        try await restored.unlock(recoveryKey: typed)
        let accounts = try await restored.accounts()
        XCTAssertEqual(accounts.count, 1)
        XCTAssertEqual(newDevice.count, 1, "a fresh keystore key was stored")

        // From now on the new device opens the vault by itself.
        let nextLaunch = try TesseraClient(config: offlineConfig(directory), storage: newDevice.copy(), http: nil)
        try await nextLaunch.unlockWithKeystore()
        let reopened = try await nextLaunch.accounts()
        XCTAssertEqual(reopened.count, 1)
    }

    func testAPasswordOpensTheVaultAndLockForgetsIt() async throws {
        let directory = try makeDataDirectory()
        // No storage: a password-only vault, as on a device without a keystore.
        let client = try await TesseraClient.open(config: offlineConfig(directory), storage: nil, http: nil)
        let noWayIn = await caughtError { try await client.createVault() }
        guard case .invalidInput? = noWayIn else {
            return XCTFail("a vault with neither storage nor password: got \(String(describing: noWayIn))")
        }
        _ = try await client.createVault(password: "correct horse battery staple")
        _ = try await client.addAccount(uri: totpUri)

        await client.lock()
        let unlocked = await client.isUnlocked()
        XCTAssertFalse(unlocked)
        await assertThrows(.locked) { try await client.accounts() }
        await assertThrows(.wrongPassword) { try await client.unlock(password: "wrong") }
        let keystoreError = await caughtError { try await client.unlockWithKeystore() }
        XCTAssertEqual(keystoreError?.needsManualUnlock, true)

        try await client.unlock(password: "correct horse battery staple")
        let accounts = try await client.accounts()
        XCTAssertEqual(accounts.count, 1)
        let info = try await client.vaultInfo()
        XCTAssertEqual(Set(info.slots.map(\.kind)), ["password", "recovery"])
    }

    func testANewRecoveryKeyReplacesTheOldOne() async throws {
        let (client, directory, oldKey) = try await makeUnlockedClient()
        let newKey = try await client.newRecoveryKey()
        XCTAssertNotEqual(newKey, oldKey)

        let other = try TesseraClient(config: offlineConfig(directory), storage: InMemorySecureStorage(), http: nil)
        await assertThrows(.wrongRecoveryKey) { try await other.unlock(recoveryKey: oldKey) }
        try await other.unlock(recoveryKey: newKey)
    }

    func testRemovingAndMovingAccountsIsSaved() async throws {
        let storage = InMemorySecureStorage()
        let (client, directory, _) = try await makeUnlockedClient(storage: storage)
        let a = try await client.addAccount(uri: "otpauth://totp/A:a?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=A")
        let b = try await client.addAccount(uri: "otpauth://totp/B:b?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=B")
        let c = try await client.addAccount(uri: "otpauth://totp/C:c?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=C")
        try await client.moveAccount(id: c.account.id, to: 0)
        try await client.removeAccount(id: b.account.id)

        let relaunched = try TesseraClient(config: offlineConfig(directory), storage: storage.copy(), http: nil)
        try await relaunched.unlockWithKeystore()
        let ids = try await relaunched.accounts().map(\.id)
        XCTAssertEqual(ids, [c.account.id, a.account.id])
    }
}
