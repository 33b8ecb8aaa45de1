import SwiftUI
import Tessera

/// A sign-in request: who, where from, and the number shown on the sign-in
/// page, which the user types (or picks) before approving. Denying or
/// reporting needs no number. Answers go through the app model to the push
/// hand-off's `PushPayloadHandler`.
@MainActor
struct PushPromptView: View {
    let prompt: PushPrompt

    @Environment(AppModel.self) private var model
    @Environment(\.dismiss) private var dismiss
    @State private var number = ""
    @State private var sending = false
    @State private var errorMessage: String?

    var body: some View {
        NavigationStack {
            TimelineView(.periodic(from: .now, by: 1)) { timeline in
                form(now: timeline.date)
            }
            .navigationTitle("Sign-in request")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Later") {
                        dismiss()
                    }
                    .disabled(sending)
                }
            }
        }
        .interactiveDismissDisabled(sending)
    }

    private func form(now: Date) -> some View {
        let expired = prompt.isExpired(at: now)
        return Form {
            Section {
                LabeledContent("Site", value: prompt.site)
                LabeledContent("Account", value: prompt.accountName)
                if let location = prompt.context.location {
                    LabeledContent("Location", value: location)
                }
                if let address = prompt.context.ipAddress {
                    LabeledContent("IP address", value: address)
                }
                if let application = prompt.context.application {
                    LabeledContent("Browser or app", value: application)
                }
                LabeledContent("Asked at", value: prompt.issuedAt.formatted(date: .omitted, time: .standard))
            } header: {
                Text("Are you signing in?")
            }

            Section {
                numberEntry
                    .disabled(expired || sending)
            } header: {
                Text("The number on the sign-in page")
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
        switch prompt.numberMatching {
        case .enter(let digits):
            TextField(String(repeating: "0", count: digits), text: $number)
                .keyboardType(.numberPad)
                .font(.largeTitle.monospacedDigit())
                .multilineTextAlignment(.center)
                .onChange(of: number) { _, typed in
                    let kept = String(typed.filter { $0.isASCII && $0.isNumber }.prefix(digits))
                    if kept != typed {
                        number = kept
                    }
                }
        case .choose(let options):
            Picker("Number", selection: $number) {
                ForEach(options, id: \.self) { option in
                    Text(option)
                        .font(.title2.monospacedDigit())
                        .tag(option)
                }
            }
            .pickerStyle(.segmented)
        }
    }

    private var numberIsComplete: Bool {
        switch prompt.numberMatching {
        case .enter(let digits):
            return number.count == digits
        case .choose(let options):
            return options.contains(number)
        }
    }

    private func timeLeft(now: Date) -> String {
        let seconds = max(0, Int(prompt.expiresAt.timeIntervalSince(now).rounded(.up)))
        return Duration.seconds(seconds).formatted(.time(pattern: .minuteSecond))
    }

    private func send(_ answer: PushAnswer) {
        sending = true
        errorMessage = nil
        Task {
            defer { sending = false }
            do {
                try await model.answer(answer, to: prompt)
                dismiss()
            } catch {
                errorMessage = AppModel.describe(error)
            }
        }
    }
}
