import SwiftUI

/// Shows the recovery key once, right after the vault was created (or a new
/// key was made), and moves on only when the user says they wrote it down.
/// Tessera cannot show the key again.
struct RecoveryKeyView: View {
    /// The key, in groups joined by dashes.
    let recoveryKey: String
    /// Called when the user has written the key down.
    let onDone: () -> Void

    @State private var writtenDown = false

    private var groups: [String] {
        recoveryKey.split(separator: "-").map(String.init)
    }

    var body: some View {
        NavigationStack {
            ScrollView {
                VStack(alignment: .leading, spacing: 20) {
                    Label("Write down your recovery key", systemImage: "key.fill")
                        .font(.title2.bold())
                    Text("It opens your vault on a new phone, or here if this device's keychain loses its key. Tessera shows it only now: write it on paper and keep it somewhere safe.")
                    LazyVGrid(columns: Array(repeating: GridItem(.flexible()), count: 4), spacing: 12) {
                        ForEach(Array(groups.enumerated()), id: \.offset) { _, group in
                            Text(group)
                                .font(.system(.title3, design: .monospaced).weight(.semibold))
                        }
                    }
                    .padding()
                    .frame(maxWidth: .infinity)
                    .background(.thinMaterial, in: RoundedRectangle(cornerRadius: 12))
                    .privacySensitive()
                    .accessibilityElement(children: .ignore)
                    .accessibilityLabel(recoveryKey.map { String($0) }.joined(separator: " "))
                    Toggle("I have written it down", isOn: $writtenDown)
                    Button {
                        onDone()
                    } label: {
                        Text("Continue")
                            .frame(maxWidth: .infinity)
                    }
                    .buttonStyle(.borderedProminent)
                    .disabled(!writtenDown)
                }
                .padding()
            }
            .navigationTitle("Recovery key")
            .interactiveDismissDisabled()
        }
    }
}
