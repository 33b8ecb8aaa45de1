#if canImport(Security)
import Foundation
import Security
import TesseraFFI

/// The Keychain as Tessera's `SecureStorage`: where the vault's
/// key-encryption key lives, so the vault opens with no password on this
/// device.
///
/// Items are generic passwords (`kSecClassGenericPassword`) of the service
/// `org.tessera.vault`, one per key Tessera asks for, readable only while the
/// device is unlocked and never leaving it
/// (`kSecAttrAccessibleWhenUnlockedThisDeviceOnly`): not in backups, not
/// restored onto another device. A restored vault is then opened once with
/// the password or recovery key, after which Tessera stores a fresh key here.
///
/// The class holds no mutable state and the Keychain API is thread-safe, so it
/// is `Sendable` and may be called from any thread (Tessera calls it off the
/// main thread).
public final class KeychainSecureStorage: SecureStorage {
    /// The default Keychain service of Tessera's items.
    public static let defaultService = "org.tessera.vault"

    /// The Keychain service (`kSecAttrService`) of every item.
    public let service: String
    /// The Keychain access group, to share the key with app extensions;
    /// `nil` for the app's default group.
    public let accessGroup: String?
    /// On macOS, whether to use the data-protection Keychain (the iOS-style
    /// one, which signed apps with a Keychain entitlement use). iOS has only
    /// that Keychain, so this changes nothing there.
    public let useDataProtectionKeychain: Bool

    /// Makes a storage over the Keychain.
    ///
    /// - Parameters:
    ///   - service: the Keychain service of the items.
    ///   - accessGroup: an access group to share the items with app
    ///     extensions, or `nil`.
    ///   - useDataProtectionKeychain: on macOS, use the data-protection
    ///     Keychain (needs a signed app with a Keychain entitlement).
    public init(
        service: String = KeychainSecureStorage.defaultService,
        accessGroup: String? = nil,
        useDataProtectionKeychain: Bool = true
    ) {
        self.service = service
        self.accessGroup = accessGroup
        self.useDataProtectionKeychain = useDataProtectionKeychain
    }

    /// The value stored under `key`, or `nil` when there is none.
    ///
    /// - Throws: `TesseraError.Storage` when the Keychain fails (for example
    ///   while the device is locked).
    public func get(key: String) throws -> String? {
        var query = itemQuery(key)
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &result)
        switch status {
        case errSecSuccess:
            guard let data = result as? Data, let value = String(data: data, encoding: .utf8) else {
                throw TesseraError.Storage(reason: "the Keychain item \(key) is not text")
            }
            return value
        case errSecItemNotFound:
            return nil
        default:
            throw Self.failure("read", status)
        }
    }

    /// Stores `value` under `key`, replacing any earlier value.
    ///
    /// - Throws: `TesseraError.Storage` when the Keychain fails.
    public func set(key: String, value: String) throws {
        let attributes: [String: Any] = [
            kSecValueData as String: Data(value.utf8),
            kSecAttrAccessible as String: kSecAttrAccessibleWhenUnlockedThisDeviceOnly,
        ]
        // Update first; add when missing. Two writers racing to add the same
        // item make one add fail with a duplicate: that one updates instead.
        for _ in 0..<2 {
            let updated = SecItemUpdate(itemQuery(key) as CFDictionary, attributes as CFDictionary)
            switch updated {
            case errSecSuccess:
                return
            case errSecItemNotFound:
                let added = SecItemAdd(
                    itemQuery(key).merging(attributes) { _, new in new } as CFDictionary,
                    nil
                )
                switch added {
                case errSecSuccess:
                    return
                case errSecDuplicateItem:
                    continue
                default:
                    throw Self.failure("write", added)
                }
            default:
                throw Self.failure("write", updated)
            }
        }
        throw TesseraError.Storage(reason: "the Keychain item \(key) kept changing while it was written")
    }

    /// Removes `key`; removing a missing key is not an error.
    ///
    /// - Throws: `TesseraError.Storage` when the Keychain fails.
    public func delete(key: String) throws {
        let status = SecItemDelete(itemQuery(key) as CFDictionary)
        switch status {
        case errSecSuccess, errSecItemNotFound:
            return
        default:
            throw Self.failure("delete", status)
        }
    }

    /// Removes every item of this storage's service (and access group), for
    /// example when the user deletes the vault. Not part of `SecureStorage`.
    ///
    /// - Throws: `TesseraError.Storage` when the Keychain fails.
    public func deleteAll() throws {
        var query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
        ]
        if let accessGroup {
            query[kSecAttrAccessGroup as String] = accessGroup
        }
        if useDataProtectionKeychain {
            query[kSecUseDataProtectionKeychain as String] = true
        }
        // iOS deletes every match at once; the file-based macOS Keychain may
        // delete one per call. Repeat until nothing matches.
        for _ in 0..<1000 {
            let status = SecItemDelete(query as CFDictionary)
            switch status {
            case errSecSuccess:
                continue
            case errSecItemNotFound:
                return
            default:
                throw Self.failure("delete", status)
            }
        }
        throw TesseraError.Storage(reason: "the Keychain kept returning items of \(service) while they were deleted")
    }

    /// The attributes that name one item.
    private func itemQuery(_ key: String) -> [String: Any] {
        var query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: key,
        ]
        if let accessGroup {
            query[kSecAttrAccessGroup as String] = accessGroup
        }
        if useDataProtectionKeychain {
            query[kSecUseDataProtectionKeychain as String] = true
        }
        return query
    }

    /// A `TesseraError.Storage` for a failed Keychain call, with the
    /// system's description of `status` (never the item's value).
    private static func failure(_ operation: String, _ status: OSStatus) -> TesseraError {
        let message = SecCopyErrorMessageString(status, nil) as String? ?? "error"
        return TesseraError.Storage(reason: "Keychain \(operation) failed: \(message) (\(status))")
    }
}
#endif
