import SwiftUI
import Tessera
import TesseraFFI

/// A sign-in request: which site and user, where it comes from, the time
/// left, and the number shown on the sign-in page, which the user types (or
/// picks among three) before approving. Denying or reporting needs no number.
/// The prompt was verified by the core under the server key pinned at
/// pairing; the answer is signed by the core. The outcome shows here; a wrong
/// number keeps the request open with the tries left.
@MainActor
struct PushPromptView: View {
    let prompt: PushPrompt

    @Environment(AppModel.self) private var model
    @Environment(\.dismiss) private var dismiss
    @State private var number = ""
    @State private var sending = false
    @State private var errorMessage: String?
    @State private var notice: String?
    @State private var outcome: AnswerOutcome?

    var body: some View {
        NavigationStack {
            TimelineView(.periodic(from: .now, by: 1)) { timeline in
                form(now: trustedNow(fallback: timeline.date))
            }
            .navigationTitle("Sign-in request")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button(outcome == nil ? "Later" : "Close") {
                        close()
                    }
                    .disabled(sending)
                }
            }
        }
        .interactiveDismissDisabled(sending)
    }

    /// The trusted time when the client is open, else the device clock.
    private func trustedNow(fallback: Date) -> Date {
        guard let client = model.client else { return fallback }
        return Date(timeIntervalSince1970: TimeInterval(client.trustedNowMs()) / 1000)
    }

    private func form(now: Date) -> some View {
        let expired = prompt.isExpired(at: now)
        let settled = outcome != nil
        return Form {
            Section {
                LabeledContent("Site", value: prompt.site)
                LabeledContent("Account", value: prompt.user)
                if let location = prompt.location {
                    LabeledContent("Location", value: location)
                }
                if let address = prompt.ip {
                    LabeledContent("IP address", value: address)
                }
                if let browser = prompt.userAgent {
                    LabeledContent("Browser", value: browser)
                }
                if let app = prompt.app {
                    LabeledContent("App", value: app)
                }
                LabeledContent("Asked at", value: prompt.issuedAtDate.formatted(date: .omitted, time: .standard))
            } header: {
                Text("Are you signing in?")
            } footer: {
                if !prompt.timeChecked {
                    Text("This device does not know the exact time, so it cannot check that the request is still valid; the site will.")
                }
            }

            if let outcome {
                Section {
                    Label(Self.describe(outcome), systemImage: Self.symbol(outcome))
                }
            } else {
                Section {
                    numberEntry
                        .disabled(expired || sending)
                } header: {
                    Text(prompt.mode == .choice ? "Pick the number on the sign-in page" : "Type the number on the sign-in page")
                } footer: {
                    expired ? Text("This request has expired.") : Text("Expires in \(timeLeft(now: now)).")
                }

                Section {
                    Button("Approve") {
                        send(.approve(number: number))
                    }
                    .disabled(!numberIsComplete || expired || sending)
                    Button("Deny", role: .destructive) {
                        send(.deny)
                    }
                    .disabled(expired || sending)
                    Button("It wasn't me: report it", role: .destructive) {
                        send(.reportFraud)
                    }
                    .disabled(expired || sending)
                } footer: {
                    Text("Only approve when you are signing in right now and the numbers match.")
                }
            }

            if let notice, !settled {
                Section {
                    Label(notice, systemImage: "exclamationmark.circle")
                        .foregroundStyle(.orange)
                }
            }
            if let errorMessage {
                Section {
                    Label(errorMessage, systemImage: "exclamationmark.triangle")
                        .foregroundStyle(.red)
                }
            }
        }
    }

    @ViewBuilder
    private var numberEntry: some View {
        switch prompt.mode {
        case .entry:
            TextField("000000", text: $number)
                .keyboardType(.numberPad)
                .font(.largeTitle.monospacedDigit())
                .multilineTextAlignment(.center)
                .onChange(of: number) { _, typed in
                    let kept = String(typed.filter { $0.isASCII && $0.isNumber }.prefix(8))
                    if kept != typed {
                        number = kept
                    }
                }
        case .choice:
            Picker("Number", selection: $number) {
                ForEach(prompt.choices, id: \.self) { option in
                    Text(option)
                        .font(.title2.monospacedDigit())
                        .tag(option)
                }
            }
            .pickerStyle(.segmented)
        }
    }

    /// Numbers are 4 to 8 digits (docs/push-protocol.md §3.2).
    private var numberIsComplete: Bool {
        switch prompt.mode {
        case .entry:
            return (4...8).contains(number.count)
        case .choice:
            return prompt.choices.contains(number)
        }
    }

    private func timeLeft(now: Date) -> String {
        let seconds = max(0, Int(prompt.expiresAtDate.timeIntervalSince(now).rounded(.up)))
        return Duration.seconds(seconds).formatted(.time(pattern: .minuteSecond))
    }

    private func send(_ answer: PushAnswer) {
        sending = true
        errorMessage = nil
        Task {
            defer { sending = false }
            do {
                let result = try await model.answer(answer, to: prompt)
                if case let .wrongNumber(attemptsLeft) = result {
                    number = ""
                    notice = "That is not the number on the sign-in page. \(attemptsLeft) \(attemptsLeft == 1 ? "try" : "tries") left."
                } else {
                    outcome = result
                }
            } catch {
                errorMessage = AppModel.describe(error)
            }
        }
    }

    private func close() {
        model.closePrompt(prompt)
        dismiss()
    }

    /// A sentence for an outcome.
    static func describe(_ outcome: AnswerOutcome) -> String {
        switch outcome {
        case .approved:
            return "Approved. The sign-in goes ahead."
        case .denied:
            return "Denied."
        case .fraudReported:
            return "Denied and reported. The site was told; change your password there."
        case let .wrongNumber(attemptsLeft):
            return "Wrong number: \(attemptsLeft) left."
        case .failed:
            return "Wrong number three times: the request failed."
        case .expired:
            return "This request has expired."
        case .finished:
            return "This request was already answered, maybe on another device."
        }
    }

    private static func symbol(_ outcome: AnswerOutcome) -> String {
        switch outcome {
        case .approved:
            return "checkmark.circle"
        case .denied, .fraudReported:
            return "hand.raised"
        case .wrongNumber, .failed, .expired, .finished:
            return "xmark.circle"
        }
    }
}
