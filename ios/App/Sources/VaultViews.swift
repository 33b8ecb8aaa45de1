import SwiftUI
import Tessera

/// First launch: creates the vault, optionally with a password as a second
/// way in. The recovery key is shown next.
@MainActor
struct CreateVaultView: View {
    @Environment(AppModel.self) private var model
    @State private var usePassword = false
    @State private var password = ""
    @State private var confirmation = ""
    @State private var working = false
    @State private var errorMessage: String?

    private var canCreate: Bool {
        !usePassword || (!password.isEmpty && password == confirmation)
    }

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    Text("Tessera keeps your accounts in an encrypted vault on this device. This device's keychain opens it for you; the recovery key shown next opens it anywhere.")
                }
                Section {
                    Toggle("Also protect it with a password", isOn: $usePassword)
                    if usePassword {
                        SecureField("Password", text: $password)
                            .textContentType(.newPassword)
                        SecureField("Repeat the password", text: $confirmation)
                            .textContentType(.newPassword)
                        if !confirmation.isEmpty, password != confirmation {
                            Text("The passwords differ.")
                                .foregroundStyle(.red)
                        }
                    }
                } footer: {
                    Text("A password opens the vault when the keychain cannot, for example after restoring a backup onto a new phone.")
                }
                if let errorMessage {
                    Section {
                        Text(errorMessage)
                            .foregroundStyle(.red)
                    }
                }
                Section {
                    Button("Create the vault") {
                        create()
                    }
                    .disabled(!canCreate || working)
                }
            }
            .navigationTitle("Welcome to Tessera")
        }
    }

    private func create() {
        working = true
        errorMessage = nil
        let chosen: String? = usePassword ? password : nil
        Task {
            defer { working = false }
            do {
                try await model.createVault(password: chosen)
            } catch {
                errorMessage = AppModel.describe(error)
            }
        }
    }
}

/// The vault is locked and the keychain did not open it: unlock with the
/// password or the recovery key, or try the keychain again.
@MainActor
struct UnlockView: View {
    /// Why the keychain did not open the vault, when it tried.
    let reason: String?

    private enum Method: Hashable {
        case password
        case recoveryKey
    }

    @Environment(AppModel.self) private var model
    @State private var method = Method.password
    @State private var secret = ""
    @State private var working = false
    @State private var errorMessage: String?

    var body: some View {
        NavigationStack {
            Form {
                if let reason {
                    Section {
                        Label(reason, systemImage: "lock.trianglebadge.exclamationmark")
                    }
                }
                Section {
                    Picker("Unlock with", selection: $method) {
                        Text("Password").tag(Method.password)
                        Text("Recovery key").tag(Method.recoveryKey)
                    }
                    .pickerStyle(.segmented)
                    switch method {
                    case .password:
                        SecureField("Password", text: $secret)
                            .textContentType(.password)
                    case .recoveryKey:
                        TextField("XXXX-XXXX-…", text: $secret)
                            .textInputAutocapitalization(.characters)
                            .autocorrectionDisabled()
                            .font(.body.monospaced())
                    }
                    Button("Unlock") {
                        unlock()
                    }
                    .disabled(secret.isEmpty || working)
                }
                if let errorMessage {
                    Section {
                        Text(errorMessage)
                            .foregroundStyle(.red)
                    }
                }
                Section {
                    Button("Try the keychain again") {
                        Task { await model.unlockWithKeystore() }
                    }
                    .disabled(working)
                }
            }
            .navigationTitle("Unlock")
            .onChange(of: method) { _, _ in
                secret = ""
                errorMessage = nil
            }
        }
    }

    private func unlock() {
        working = true
        errorMessage = nil
        let typed = secret
        let method = self.method
        Task {
            defer { working = false }
            do {
                switch method {
                case .password:
                    try await model.unlock(password: typed)
                case .recoveryKey:
                    try await model.unlock(recoveryKey: typed)
                }
                secret = ""
            } catch {
                errorMessage = AppModel.describe(error)
            }
        }
    }
}
