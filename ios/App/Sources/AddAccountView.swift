import PhotosUI
import SwiftUI
import Tessera
import TesseraFFI
import UIKit

/// Adds accounts: by scanning a QR code with the camera, by picking an image
/// of one, or by pasting an `otpauth://` link; a `tessera-push://` code pairs
/// the device for sign-in requests instead.
@MainActor
struct AddAccountView: View {
    @Environment(AppModel.self) private var model
    @Environment(\.dismiss) private var dismiss
    @State private var uri = ""
    @State private var photo: PhotosPickerItem?
    @State private var scanning = false
    @State private var working = false
    @State private var errorMessage: String?
    /// Accounts added while the sheet is open, with their warnings.
    @State private var added: [AddedAccount] = []

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    #if canImport(AVFoundation)
                    if QRScannerView.isAvailable {
                        Button {
                            scanning = true
                        } label: {
                            Label("Scan a QR code", systemImage: "qrcode.viewfinder")
                        }
                    }
                    #endif
                    PhotosPicker(selection: $photo, matching: .images) {
                        Label("Choose an image of a QR code", systemImage: "photo")
                    }
                } footer: {
                    Text("Sites show the QR code when you turn on two-factor authentication.")
                }

                Section {
                    TextField("otpauth://totp/…", text: $uri, axis: .vertical)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                        .keyboardType(.URL)
                        .font(.body.monospaced())
                    Button("Add") {
                        Task { await add(uri: uri) }
                    }
                    .disabled(uri.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
                } header: {
                    Text("Or paste the link")
                }

                if let errorMessage {
                    Section {
                        Label(errorMessage, systemImage: "exclamationmark.triangle")
                            .foregroundStyle(.red)
                    }
                }

                if !added.isEmpty {
                    Section("Added") {
                        ForEach(added, id: \.account.id) { item in
                            VStack(alignment: .leading, spacing: 4) {
                                Text(item.account.issuer.isEmpty ? item.account.label : "\(item.account.issuer) (\(item.account.label))")
                                ForEach(item.warnings, id: \.self) { warning in
                                    Label(warning, systemImage: "exclamationmark.shield")
                                        .font(.footnote)
                                        .foregroundStyle(.orange)
                                }
                            }
                        }
                    }
                }
            }
            .disabled(working)
            .overlay {
                if working {
                    ProgressView()
                }
            }
            .navigationTitle("Add account")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button(added.isEmpty ? "Cancel" : "Done") {
                        dismiss()
                    }
                }
            }
            .onChange(of: photo) { _, item in
                if let item {
                    Task { await add(photo: item) }
                }
            }
            #if canImport(AVFoundation)
            .sheet(isPresented: $scanning) {
                scannerSheet
            }
            #endif
        }
    }

    #if canImport(AVFoundation)
    private var scannerSheet: some View {
        NavigationStack {
            QRScannerView(
                onCode: { text in
                    scanning = false
                    Task { await add(uri: text) }
                },
                onFailure: { message in
                    scanning = false
                    errorMessage = message
                }
            )
            .ignoresSafeArea(edges: .bottom)
            .navigationTitle("Scan a QR code")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel") {
                        scanning = false
                    }
                }
            }
        }
    }
    #endif

    /// Adds the account of one `otpauth://` link, or pairs this device with
    /// a site's push server for a `tessera-push://pair?…` one.
    private func add(uri text: String) async {
        guard let client = model.client else { return }
        working = true
        defer { working = false }
        if text.lowercased().hasPrefix("tessera-push:") {
            do {
                _ = try await model.pair(uri: text.trimmingCharacters(in: .whitespacesAndNewlines))
                uri = ""
                errorMessage = nil
                dismiss()
            } catch {
                errorMessage = AppModel.describe(error)
            }
            return
        }
        do {
            let result = try await client.addAccount(uri: text.trimmingCharacters(in: .whitespacesAndNewlines))
            added.append(result)
            uri = ""
            errorMessage = nil
            if result.warnings.isEmpty {
                dismiss()
            }
        } catch {
            errorMessage = AppModel.describe(error)
        }
    }

    /// Adds every account whose QR code is in the picked image.
    private func add(photo item: PhotosPickerItem) async {
        guard let client = model.client else { return }
        working = true
        defer {
            working = false
            photo = nil
        }
        do {
            guard let data = try await item.loadTransferable(type: Data.self) else {
                errorMessage = "The image could not be read."
                return
            }
            let result = try await client.addFromQrImage(data: data)
            added.append(contentsOf: result)
            errorMessage = nil
            if result.allSatisfy({ $0.warnings.isEmpty }) {
                dismiss()
            }
        } catch {
            errorMessage = AppModel.describe(error)
        }
    }
}
