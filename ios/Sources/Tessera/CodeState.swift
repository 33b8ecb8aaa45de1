import Foundation
import TesseraFFI

/// One account with its current code at one trusted instant: a row of the
/// account list.
///
/// ``TesseraClient/codeStates()`` yields arrays of these; every state of one
/// array shares the same ``nowMs``, so countdowns and codes agree.
public struct CodeState: Sendable, Hashable, Identifiable {
    /// The account (never its secret).
    public let account: AccountRecord
    /// The current code of a time-based account (TOTP or Steam); `nil` for
    /// HOTP accounts, whose codes are taken one at a time with
    /// ``TesseraClient/nextHotpCode(id:)``, and for push-only accounts.
    public let code: CodeRecord?
    /// The trusted instant the code was computed at (ms since the Unix epoch).
    public let nowMs: UInt64

    /// Makes a state.
    ///
    /// - Parameters:
    ///   - account: the account.
    ///   - code: its code at `nowMs`, if it has a time-based one.
    ///   - nowMs: the trusted instant (ms since the Unix epoch).
    public init(account: AccountRecord, code: CodeRecord?, nowMs: UInt64) {
        self.account = account
        self.code = code
        self.nowMs = nowMs
    }

    /// The account's id.
    public var id: String { account.id }

    /// "Issuer (label)", or just the label when there is no issuer.
    public var displayName: String {
        account.issuer.isEmpty ? account.label : "\(account.issuer) (\(account.label))"
    }

    /// The code for display, in groups (`"123 456"`), or `nil` without a code.
    public var displayCode: String? {
        code.map { CodeFormat.grouped($0.code) }
    }

    /// Milliseconds until the next code takes over, or `nil` without a
    /// time-based code.
    public var remainingMs: UInt64? {
        guard let until = code?.validUntilMs else { return nil }
        return until > nowMs ? until - nowMs : 0
    }

    /// Whole seconds left for the countdown (rounded up, so a fresh 30-second
    /// code shows 30 and the last moment shows 1), or `nil` without a
    /// time-based code.
    public var remainingSeconds: Int? {
        remainingMs.map { Int(($0 + 999) / 1000) }
    }

    /// The code's period in milliseconds, or `nil` without a time-based code.
    public var periodMs: UInt64? {
        guard let from = code?.validFromMs, let until = code?.validUntilMs, until > from else {
            return nil
        }
        return until - from
    }

    /// The share of the period still left, from 1 (new code) down to 0, for a
    /// countdown ring; `nil` without a time-based code.
    public var fractionRemaining: Double? {
        guard let remaining = remainingMs, let period = periodMs else { return nil }
        return min(1, Double(remaining) / Double(period))
    }
}

/// How codes are shown.
public enum CodeFormat {
    /// Splits a code into groups that are easy to read out and type:
    /// `"123456"` → `"123 456"`, `"12345678"` → `"1234 5678"`,
    /// `"123456789"` → `"123 456 789"`. Codes of five characters or fewer
    /// (Steam Guard) are left whole.
    ///
    /// - Parameter code: the code's characters.
    /// - Returns: the code with spaces between the groups.
    public static func grouped(_ code: String) -> String {
        let characters = Array(code)
        let count = characters.count
        if count <= 5 {
            return code
        }
        if count % 3 == 0 {
            return stride(from: 0, to: count, by: 3)
                .map { String(characters[$0..<($0 + 3)]) }
                .joined(separator: " ")
        }
        let half = count / 2
        return String(characters[..<half]) + " " + String(characters[half...])
    }
}
