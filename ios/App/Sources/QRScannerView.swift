#if canImport(AVFoundation)
import AVFoundation
import SwiftUI
import UIKit

/// A live camera view that reports the first QR code it reads.
///
/// It asks for camera access when needed (the reason is
/// `NSCameraUsageDescription` in Info.plist) and reports a refusal through
/// `onFailure`, so the user can pick an image instead.
struct QRScannerView: UIViewControllerRepresentable {
    /// Called once, on the main actor, with the text of the first QR code.
    let onCode: @MainActor (String) -> Void
    /// Called on the main actor when the camera cannot be used.
    let onFailure: @MainActor (String) -> Void

    /// True when the device has a camera.
    static var isAvailable: Bool {
        AVCaptureDevice.default(for: .video) != nil
    }

    func makeUIViewController(context: Context) -> QRScannerViewController {
        QRScannerViewController(onCode: onCode, onFailure: onFailure)
    }

    func updateUIViewController(_ controller: QRScannerViewController, context: Context) {}
}

/// `AVCaptureSession` is documented as safe to start and stop from a
/// background queue (Apple recommends it: `startRunning()` blocks), but it is
/// not marked `Sendable`; this box carries it to that queue.
private final class CaptureSessionBox: @unchecked Sendable {
    let session = AVCaptureSession()
}

/// Runs the capture session and reads QR codes from it.
final class QRScannerViewController: UIViewController, AVCaptureMetadataOutputObjectsDelegate {
    private let onCode: @MainActor (String) -> Void
    private let onFailure: @MainActor (String) -> Void
    private let capture = CaptureSessionBox()
    private let sessionQueue = DispatchQueue(label: "org.tessera.camera")
    private var previewLayer: AVCaptureVideoPreviewLayer?
    private var delivered = false

    init(onCode: @escaping @MainActor (String) -> Void, onFailure: @escaping @MainActor (String) -> Void) {
        self.onCode = onCode
        self.onFailure = onFailure
        super.init(nibName: nil, bundle: nil)
    }

    @available(*, unavailable)
    required init?(coder: NSCoder) {
        fatalError("QRScannerViewController is made in code")
    }

    override func viewDidLoad() {
        super.viewDidLoad()
        view.backgroundColor = .black
        Task { await startWhenAllowed() }
    }

    override func viewDidLayoutSubviews() {
        super.viewDidLayoutSubviews()
        previewLayer?.frame = view.bounds
    }

    override func viewWillDisappear(_ animated: Bool) {
        super.viewWillDisappear(animated)
        let capture = self.capture
        sessionQueue.async {
            if capture.session.isRunning {
                capture.session.stopRunning()
            }
        }
    }

    private func startWhenAllowed() async {
        switch AVCaptureDevice.authorizationStatus(for: .video) {
        case .authorized:
            configureAndStart()
        case .notDetermined:
            if await AVCaptureDevice.requestAccess(for: .video) {
                configureAndStart()
            } else {
                fail("Tessera may not use the camera. Pick an image of the QR code instead.")
            }
        case .denied, .restricted:
            fail("Camera access is off for Tessera. Allow it in Settings, or pick an image of the QR code.")
        @unknown default:
            fail("The camera is not available.")
        }
    }

    private func configureAndStart() {
        let session = capture.session
        guard let camera = AVCaptureDevice.default(for: .video),
            let input = try? AVCaptureDeviceInput(device: camera),
            session.canAddInput(input)
        else {
            fail("The camera is not available.")
            return
        }
        let output = AVCaptureMetadataOutput()
        session.beginConfiguration()
        session.addInput(input)
        guard session.canAddOutput(output) else {
            session.commitConfiguration()
            fail("The camera cannot read QR codes on this device.")
            return
        }
        session.addOutput(output)
        output.setMetadataObjectsDelegate(self, queue: .main)
        // Only after the output joined the session are QR codes available.
        output.metadataObjectTypes = [.qr]
        session.commitConfiguration()

        let layer = AVCaptureVideoPreviewLayer(session: session)
        layer.videoGravity = .resizeAspectFill
        layer.frame = view.bounds
        view.layer.addSublayer(layer)
        previewLayer = layer

        let capture = self.capture
        sessionQueue.async {
            capture.session.startRunning()
        }
    }

    nonisolated func metadataOutput(
        _ output: AVCaptureMetadataOutput,
        didOutput metadataObjects: [AVMetadataObject],
        from connection: AVCaptureConnection
    ) {
        let text = metadataObjects
            .compactMap { ($0 as? AVMetadataMachineReadableCodeObject)?.stringValue }
            .first
        guard let text else { return }
        // The delegate queue is the main queue (see `configureAndStart`).
        MainActor.assumeIsolated {
            deliver(text)
        }
    }

    private func deliver(_ text: String) {
        guard !delivered else { return }
        delivered = true
        UINotificationFeedbackGenerator().notificationOccurred(.success)
        let capture = self.capture
        sessionQueue.async {
            capture.session.stopRunning()
        }
        onCode(text)
    }

    private func fail(_ message: String) {
        guard !delivered else { return }
        delivered = true
        onFailure(message)
    }
}
#endif
