import SwiftUI
import Tessera

/// Tessera for iOS: codes from an encrypted vault, checked against a trusted
/// clock.
@main
struct TesseraApp: App {
    /// UIKit's delegate: the APNs hook, and the owner of the app model.
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var appDelegate

    var body: some Scene {
        WindowGroup {
            RootView()
                .environment(appDelegate.model)
        }
    }
}

/// Picks the screen for the app's phase, and shows push prompts over it.
@MainActor
struct RootView: View {
    @Environment(AppModel.self) private var model
    @Environment(\.scenePhase) private var scenePhase

    var body: some View {
        @Bindable var model = model
        content
            .task { await model.start() }
            .task { await model.listenForPrompts() }
            .onChange(of: scenePhase) { _, newPhase in
                Task { await model.scenePhaseChanged(to: newPhase) }
            }
            .sheet(item: $model.pendingPrompt) { prompt in
                PushPromptView(prompt: prompt)
            }
    }

    @ViewBuilder
    private var content: some View {
        switch model.phase {
        case .starting:
            ProgressView("Opening your vault…")
        case .needsVault:
            CreateVaultView()
        case .locked(let reason):
            UnlockView(reason: reason)
        case .recoveryKey(let recoveryKey):
            RecoveryKeyView(recoveryKey: recoveryKey) {
                model.acknowledgeRecoveryKey()
            }
        case .unlocked:
            AccountListView()
        case .failed(let message):
            ContentUnavailableView {
                Label("Tessera could not start", systemImage: "exclamationmark.triangle")
            } description: {
                Text(message)
            } actions: {
                Button("Try again") {
                    Task { await model.start() }
                }
            }
        }
    }
}
