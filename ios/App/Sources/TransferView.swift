import CoreImage
import CoreImage.CIFilterBuiltins
import SwiftUI
import Tessera
import TesseraFFI
import UniformTypeIdentifiers

/// Import, export, backup and device-to-device transfer, mirroring the
/// Android app's TransferActivity:
/// - import: pick a file, see what would be added, skipped and refused, then
///   confirm (exactly the previewed accounts are added, all or nothing);
/// - export and backup: the core makes and checks the bytes; the app writes
///   them where the user chose, reads them back and has the core check them
///   again (a mismatch deletes the file);
/// - receive (new phone): shows the invite's QR code, waits for the old
///   phone, and applies only once the user typed the code the old phone shows;
/// - send (old phone): scans the new phone's QR code, sends, and shows the
///   confirmation code.
struct TransferView: View {
    @Environment(AppModel.self) private var model
    @Environment(\.dismiss) private var dismiss

    @State private var message: String?
    @State private var importing = false
    @State private var importPassword = ""
    @State private var pendingImport: Data?
    @State private var session: ImportSession?
    @State private var exportFormat: TransferFormat = .tesseraBackup
    @State private var exportPassword = ""
    @State private var exportFile: ExportDocument?
    @State private var exportWarnings: [ExportWarning] = []
    @State private var serverUrl = ""
    @State private var receiver: TransferReceiver?
    @State private var received: ReceivedTransfer?
    @State private var typedCode = ""
    @State private var scanning = false
    @State private var sentCode: String?

    var body: some View {
        NavigationStack {
            Form {
                importSection
                exportSection
                receiveSection
                sendSection
                if let message {
                    Section { Text(message) }
                }
            }
            .navigationTitle("Import, export, transfer")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Done") { Task { await finish() } }
                }
            }
            .fileImporter(isPresented: $importing, allowedContentTypes: [.data, .json, .plainText]) { result in
                Task { await picked(result) }
            }
            .fileExporter(
                isPresented: Binding(get: { exportFile != nil }, set: { if !$0 { exportFile = nil } }),
                document: exportFile,
                contentType: .data,
                defaultFilename: exportFormat == .tesseraBackup ? "tessera-backup.json" : "tessera-export"
            ) { result in
                Task { await written(result) }
            }
            .sheet(isPresented: $scanning) {
                QRScannerView(
                    onCode: { code in
                        scanning = false
                        Task { await send(invite: code) }
                    },
                    onFailure: { reason in
                        scanning = false
                        message = reason
                    }
                )
            }
        }
    }

    // MARK: - Import

    private var importSection: some View {
        Section("Import") {
            SecureField("Password of the file (if it has one)", text: $importPassword)
            Button("Choose a file…") { importing = true }
            if let preview = session?.preview() {
                ForEach(preview.newAccounts, id: \.name) { Text("+ \($0.name)") }
                ForEach(preview.duplicates, id: \.name) { Text("= \($0.name) (already here)") }
                ForEach(preview.rejected, id: \.index) { Text("× entry \($0.index + 1): \($0.reason)") }
                Button("Add \(preview.newAccounts.count) account(s)") { Task { await applyImport() } }
                    .disabled(preview.newAccounts.isEmpty)
            }
        }
    }

    private func picked(_ result: Result<URL, any Error>) async {
        guard let client = model.client else { return }
        do {
            let url = try result.get()
            let accessing = url.startAccessingSecurityScopedResource()
            defer { if accessing { url.stopAccessingSecurityScopedResource() } }
            let data = try Data(contentsOf: url)
            session?.discard()
            session = try await client.previewImport(data, password: importPassword.isEmpty ? nil : importPassword)
        } catch TesseraClientError.passwordRequired {
            message = "This file is encrypted: type its password, then choose it again."
        } catch {
            message = AppModel.describe(error)
        }
    }

    private func applyImport() async {
        guard let client = model.client, let session else { return }
        do {
            let ids = try await client.applyImport(session)
            message = "Added \(ids.count) account(s)."
            self.session = nil
        } catch {
            message = AppModel.describe(error)
        }
    }

    // MARK: - Export and backup

    private var exportSection: some View {
        Section("Export and backup") {
            Picker("Format", selection: $exportFormat) {
                Text("Tessera backup").tag(TransferFormat.tesseraBackup)
                Text("Aegis").tag(TransferFormat.aegis)
                Text("otpauth:// list").tag(TransferFormat.otpauthList)
                Text("Google Authenticator").tag(TransferFormat.googleMigration)
            }
            if exportFormat == .tesseraBackup || exportFormat == .aegis {
                SecureField("Password", text: $exportPassword)
            }
            Button("Export…") { Task { await export(force: false) } }
            if !exportWarnings.isEmpty {
                ForEach(exportWarnings, id: \.self) { Text("\($0.accountName): \($0.what)") }
                Button("Export the rest anyway") { Task { await export(force: true) } }
            }
        }
    }

    private var exportPasswordOrNil: String? {
        (exportFormat == .tesseraBackup || exportFormat == .aegis) && !exportPassword.isEmpty ? exportPassword : nil
    }

    private func export(force: Bool) async {
        guard let client = model.client else { return }
        do {
            let file: ExportedFile
            if exportFormat == .tesseraBackup {
                file = try await client.backup(password: exportPassword)
            } else {
                file = try await client.exportAccounts(format: exportFormat, password: exportPasswordOrNil, force: force)
            }
            exportWarnings = []
            if file.unencrypted {
                message = "This file holds your secrets unencrypted: anyone who reads it can make your codes."
            }
            exportFile = ExportDocument(data: file.bytes)
        } catch let TesseraClientError.wouldLoseInformation(warnings: warnings) {
            exportWarnings = warnings
        } catch {
            message = AppModel.describe(error)
        }
    }

    /// Reads the written file back and has the core check it; deletes it on a mismatch.
    private func written(_ result: Result<URL, any Error>) async {
        guard let client = model.client else { return }
        do {
            let url = try result.get()
            let data = try Data(contentsOf: url)
            do {
                let count = try await client.verifyExport(format: exportFormat, data: data, password: exportPasswordOrNil)
                message = "Wrote \(count) account(s), read them back and checked them."
            } catch {
                try? FileManager.default.removeItem(at: url)
                message = "The written file does not match (\(AppModel.describe(error))); it was deleted. Export again."
            }
        } catch {
            message = AppModel.describe(error)
        }
    }

    // MARK: - Receive (new phone)

    private var receiveSection: some View {
        Section("Receive from my old phone") {
            TextField("Transfer server (https://…)", text: $serverUrl)
                .textInputAutocapitalization(.never)
                .keyboardType(.URL)
            if let receiver {
                if let image = qrImage(receiver.invite().uri) {
                    Image(uiImage: image)
                        .interpolation(.none)
                        .resizable()
                        .scaledToFit()
                        .frame(maxWidth: 280)
                }
                Text("On your old phone, open Tessera → Send to my new phone, and scan this code.")
            } else {
                Button("Show the code to scan") { Task { await startReceive() } }
            }
            if let received {
                Text("\(received.newAccounts.count) new account(s), \(received.duplicates.count) already here, "
                    + "\(received.pushHandoffs.filter(\.willMove).count) sign-in approval(s) to move.")
                ForEach(received.newAccounts, id: \.name) { Text("+ \($0.name)") }
                TextField("The code your old phone shows", text: $typedCode)
                    .keyboardType(.numberPad)
                Button("Add them") { Task { await applyTransfer() } }
                    .disabled(typedCode.filter(\.isNumber).count != 6)
            }
        }
    }

    private func startReceive() async {
        guard let client = model.client else { return }
        do {
            let started = try await client.startReceive(serverUrl: serverUrl.isEmpty ? nil : serverUrl)
            receiver = started
            while receiver === started, received == nil {
                received = try await client.waitForTransfer(started)
            }
        } catch {
            message = AppModel.describe(error)
            receiver = nil
        }
    }

    private func applyTransfer() async {
        guard let client = model.client, let receiver else { return }
        do {
            let applied = try await client.applyTransfer(
                receiver,
                confirmationCode: typedCode,
                deviceName: model.deviceNameForTransfer(),
                delivery: model.pushDeliveryForTransfer()
            )
            message = "Added \(applied.addedIds.count) account(s); moved \(applied.pushMoved.count) sign-in approval(s)."
                + applied.pushFailed.map { "\n× \($0.name): \($0.reason)" }.joined()
        } catch {
            message = AppModel.describe(error)
        }
        self.receiver = nil
        received = nil
        typedCode = ""
    }

    // MARK: - Send (old phone)

    private var sendSection: some View {
        Section("Send to my new phone") {
            Button("Scan the new phone's code") { scanning = true }
            if let sentCode {
                Text("Confirmation code: \(sentCode)")
                    .font(.title2.monospacedDigit())
                Text("Type it on your new phone.")
            }
        }
    }

    private func send(invite: String) async {
        guard let client = model.client else { return }
        do {
            let sent = try await client.sendTransfer(inviteUri: invite)
            sentCode = sent.confirmationCode
            if let envelope = sent.envelope {
                exportFile = ExportDocument(data: envelope)
            }
        } catch {
            message = AppModel.describe(error)
        }
    }

    // MARK: - Helpers

    private func finish() async {
        if let client = model.client, let receiver {
            try? await client.cancelTransfer(receiver)
        }
        session?.discard()
        dismiss()
    }

    private func qrImage(_ text: String) -> UIImage? {
        let filter = CIFilter.qrCodeGenerator()
        filter.message = Data(text.utf8)
        filter.correctionLevel = "M"
        guard let output = filter.outputImage,
              let cgImage = CIContext().createCGImage(output, from: output.extent)
        else { return nil }
        return UIImage(cgImage: cgImage)
    }
}

/// The bytes of an export or a transfer file, for `fileExporter`.
struct ExportDocument: FileDocument {
    static let readableContentTypes: [UTType] = [.data]

    let data: Data

    init(data: Data) {
        self.data = data
    }

    init(configuration: ReadConfiguration) throws {
        data = configuration.file.regularFileContents ?? Data()
    }

    func fileWrapper(configuration: WriteConfiguration) throws -> FileWrapper {
        FileWrapper(regularFileWithContents: data)
    }
}
