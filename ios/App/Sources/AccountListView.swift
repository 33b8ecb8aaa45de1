import SwiftUI
import Tessera
import TesseraFFI
import UIKit
import UniformTypeIdentifiers

/// The main screen: every account with its current code and a countdown,
/// ticking from `TesseraClient.codeStates()`, and a banner when the clock
/// cannot be trusted.
@MainActor
struct AccountListView: View {
    @Environment(AppModel.self) private var model
    /// The latest element of the code stream.
    @State private var states: [CodeState] = []
    /// HOTP codes the user asked for, by account id.
    @State private var hotpCodes: [String: CodeRecord] = [:]
    @State private var copiedAccountId: String?
    @State private var showingAdd = false
    @State private var showingTransfer = false
    @State private var errorMessage: String?

    var body: some View {
        NavigationStack {
            List {
                if let clock = model.clock, clock.state != .inSync {
                    Section {
                        ClockBanner(info: clock) {
                            Task { await model.syncClock() }
                        }
                    }
                }
                Section {
                    ForEach(states) { state in
                        AccountRow(
                            state: state,
                            hotpCode: hotpCodes[state.id],
                            copied: copiedAccountId == state.id,
                            onCopy: { code in copy(code, accountId: state.id) },
                            onNextHotpCode: { nextHotpCode(accountId: state.id) }
                        )
                    }
                    .onDelete { offsets in remove(at: offsets) }
                    .onMove { source, destination in move(from: source, to: destination) }
                }
            }
            .overlay {
                if states.isEmpty {
                    ContentUnavailableView(
                        "No accounts yet",
                        systemImage: "key",
                        description: Text("Add one by scanning the QR code a site shows, or by pasting its otpauth:// link.")
                    )
                }
            }
            .navigationTitle("Tessera")
            .toolbar { toolbar }
            .sheet(isPresented: $showingAdd) {
                AddAccountView()
            }
            .sheet(isPresented: $showingTransfer) {
                TransferView()
            }
            .alert("Something went wrong", isPresented: showingError) {
                Button("OK", role: .cancel) {}
            } message: {
                Text(errorMessage ?? "")
            }
            .task(id: model.session) {
                await followCodes()
            }
        }
    }

    @ToolbarContentBuilder
    private var toolbar: some ToolbarContent {
        ToolbarItem(placement: .topBarLeading) {
            EditButton()
        }
        ToolbarItem(placement: .primaryAction) {
            Button {
                showingAdd = true
            } label: {
                Label("Add account", systemImage: "plus")
            }
        }
        ToolbarItem(placement: .secondaryAction) {
            Button("Import, export, transfer", systemImage: "arrow.left.arrow.right") {
                showingTransfer = true
            }
        }
        ToolbarItem(placement: .secondaryAction) {
            Button("Check the clock", systemImage: "clock.arrow.circlepath") {
                Task { await model.syncClock() }
            }
        }
        ToolbarItem(placement: .secondaryAction) {
            Button("New recovery key", systemImage: "key") {
                Task { await run { try await model.makeNewRecoveryKey() } }
            }
        }
        ToolbarItem(placement: .secondaryAction) {
            Button("Lock", systemImage: "lock") {
                Task { await model.lock() }
            }
        }
    }

    private var showingError: Binding<Bool> {
        Binding(
            get: { errorMessage != nil },
            set: { shown in
                if !shown { errorMessage = nil }
            }
        )
    }

    /// Follows the code stream until the vault locks or the view goes away.
    private func followCodes() async {
        guard let client = model.client else { return }
        for await next in client.codeStates() {
            states = next
        }
    }

    /// Runs an action, showing its error in an alert.
    private func run(_ action: () async throws -> Void) async {
        do {
            try await action()
        } catch {
            errorMessage = AppModel.describe(error)
        }
    }

    /// Copies a code for a minute, to this device only.
    private func copy(_ code: String, accountId: String) {
        UIPasteboard.general.setItems(
            [[UTType.plainText.identifier: code]],
            options: [.localOnly: true, .expirationDate: Date().addingTimeInterval(60)]
        )
        copiedAccountId = accountId
        Task {
            try? await Task.sleep(nanoseconds: 1_500_000_000)
            if copiedAccountId == accountId {
                copiedAccountId = nil
            }
        }
    }

    private func nextHotpCode(accountId: String) {
        guard let client = model.client else { return }
        Task {
            await run {
                hotpCodes[accountId] = try await client.nextHotpCode(id: accountId)
            }
        }
    }

    private func remove(at offsets: IndexSet) {
        guard let client = model.client else { return }
        let ids = offsets.map { states[$0].id }
        states.remove(atOffsets: offsets)
        Task {
            await run {
                for id in ids {
                    try await client.removeAccount(id: id)
                }
            }
        }
    }

    private func move(from source: IndexSet, to destination: Int) {
        guard let client = model.client, let from = source.first, source.count == 1 else { return }
        let id = states[from].id
        // `destination` counts the moved row itself when moving down.
        let position = destination > from ? destination - 1 : destination
        states.move(fromOffsets: source, toOffset: destination)
        Task {
            await run { try await client.moveAccount(id: id, to: position) }
        }
    }
}

/// One account: issuer, label, code and countdown (or the HOTP button).
struct AccountRow: View {
    let state: CodeState
    let hotpCode: CodeRecord?
    let copied: Bool
    let onCopy: (String) -> Void
    let onNextHotpCode: () -> Void

    private var account: AccountRecord { state.account }

    /// The code that a tap copies, if one is showing.
    private var currentCode: String? {
        state.code?.code ?? hotpCode?.code
    }

    var body: some View {
        HStack(spacing: 16) {
            VStack(alignment: .leading, spacing: 4) {
                Text(account.issuer.isEmpty ? account.label : account.issuer)
                    .font(.headline)
                if !account.issuer.isEmpty {
                    Text(account.label)
                        .font(.subheadline)
                        .foregroundStyle(.secondary)
                }
                codeText
                if account.weakSecret {
                    Label("Weak secret: ask the site for a new key", systemImage: "exclamationmark.shield")
                        .font(.caption)
                        .foregroundStyle(.orange)
                }
            }
            Spacer(minLength: 8)
            trailing
        }
        .padding(.vertical, 4)
        .contentShape(Rectangle())
        .onTapGesture {
            if let currentCode {
                onCopy(currentCode)
            }
        }
        .accessibilityElement(children: .combine)
        .accessibilityHint(currentCode == nil ? Text("") : Text("Double-tap to copy the code"))
    }

    @ViewBuilder
    private var codeText: some View {
        if copied {
            Label("Copied", systemImage: "checkmark")
                .font(.title2.weight(.semibold))
                .foregroundStyle(.green)
        } else if let display = state.displayCode {
            Text(display)
                .font(.system(.title, design: .monospaced).weight(.semibold))
                .foregroundStyle((state.remainingSeconds ?? 30) <= 5 ? Color.red : Color.primary)
                .contentTransition(.numericText())
        } else if account.kind == .hotp {
            Text(hotpCode.map { CodeFormat.grouped($0.code) } ?? "Tap ↻ for a code")
                .font(.system(hotpCode == nil ? Font.TextStyle.body : Font.TextStyle.title, design: .monospaced).weight(.semibold))
                .foregroundStyle(hotpCode == nil ? Color.secondary : Color.primary)
        } else {
            Text("Push sign-in")
                .foregroundStyle(.secondary)
        }
    }

    @ViewBuilder
    private var trailing: some View {
        if let seconds = state.remainingSeconds, let fraction = state.fractionRemaining {
            CountdownRing(fraction: fraction, seconds: seconds)
        } else if account.kind == .hotp {
            Button(action: onNextHotpCode) {
                Label("Next code", systemImage: "arrow.clockwise")
                    .labelStyle(.iconOnly)
                    .font(.title3)
            }
            .buttonStyle(.borderless)
        }
    }
}

/// Seconds left for the current code, as a shrinking ring.
struct CountdownRing: View {
    /// The share of the period left, 1 down to 0.
    let fraction: Double
    /// Whole seconds left.
    let seconds: Int

    var body: some View {
        ZStack {
            Circle()
                .stroke(Color.secondary.opacity(0.2), lineWidth: 4)
            Circle()
                .trim(from: 0, to: fraction)
                .stroke(seconds <= 5 ? Color.red : Color.accentColor, style: StrokeStyle(lineWidth: 4, lineCap: .round))
                .rotationEffect(.degrees(-90))
                .animation(.linear(duration: 1), value: fraction)
            Text("\(seconds)")
                .font(.caption.monospacedDigit())
        }
        .frame(width: 36, height: 36)
        .accessibilityLabel("\(seconds) seconds left")
    }
}

/// The clock banner: shown when codes may be off because of the clock.
struct ClockBanner: View {
    let info: ClockInfo
    let onCheck: () -> Void

    var body: some View {
        HStack(alignment: .top, spacing: 12) {
            Image(systemName: symbol)
                .foregroundStyle(tint)
                .font(.title3)
            VStack(alignment: .leading, spacing: 4) {
                Text(title)
                    .font(.subheadline.weight(.semibold))
                Text(info.message)
                    .font(.footnote)
                    .foregroundStyle(.secondary)
            }
            Spacer(minLength: 8)
            Button("Check", action: onCheck)
                .buttonStyle(.bordered)
        }
        .accessibilityElement(children: .combine)
    }

    private var title: String {
        switch info.state {
        case .inSync:
            return "The clock is right"
        case .corrected:
            return "This device's clock is \(offsetText) — codes are corrected"
        case .uncorrected:
            return "This device's clock is \(offsetText) — codes may be refused"
        case .unknown:
            return "The clock has not been checked"
        }
    }

    /// "3 s fast" or "2 s slow", from the offset (true time − device time).
    private var offsetText: String {
        guard let offset = info.offsetMs else { return "off" }
        let seconds = (abs(offset) / 1000).formatted(.number.precision(.fractionLength(0...1)))
        return offset < 0 ? "\(seconds) s fast" : "\(seconds) s slow"
    }

    private var symbol: String {
        switch info.state {
        case .inSync:
            return "checkmark.circle"
        case .corrected:
            return "clock.badge.checkmark"
        case .uncorrected:
            return "clock.badge.exclamationmark"
        case .unknown:
            return "clock.badge.questionmark"
        }
    }

    private var tint: Color {
        switch info.state {
        case .inSync, .corrected:
            return .green
        case .uncorrected:
            return .red
        case .unknown:
            return .orange
        }
    }
}
