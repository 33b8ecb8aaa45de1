import os
import Tessera
import UIKit

/// The UIKit side of the app: owns the app model and hands APNs traffic to
/// Tessera's push hand-off.
///
/// The model installs a `TesseraPushHandler` in `model.push` and registers
/// for remote notifications once the vault is open. The device token goes to
/// every paired push server (and to new pairings); a notification's payload
/// goes through the hand-off to the core, which reads the wake-up, fetches
/// the signed prompt and verifies it; the prompt then shows as a sheet.
final class AppDelegate: NSObject, UIApplicationDelegate {
    /// The app's state, shared with the SwiftUI scene.
    let model = AppModel()

    private let logger = Logger(subsystem: "org.tessera.app", category: "push")

    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil
    ) -> Bool {
        // Registering needs no permission (the wake-ups are background
        // pushes); the token is kept for pairings made before the vault opens.
        UIApplication.shared.registerForRemoteNotifications()
        return true
    }

    func application(
        _ application: UIApplication,
        didRegisterForRemoteNotificationsWithDeviceToken deviceToken: Data
    ) {
        let push = model.push
        let logger = self.logger
        model.apnsToken = deviceToken
        Task {
            do {
                try await push.registerDeviceToken(deviceToken)
            } catch {
                logger.error("the push handler refused the device token: \(error.localizedDescription, privacy: .public)")
            }
        }
    }

    func application(
        _ application: UIApplication,
        didFailToRegisterForRemoteNotificationsWithError error: Error
    ) {
        logger.error("remote notifications are unavailable: \(error.localizedDescription, privacy: .public)")
    }

    /// The APNs hook: turns the notification's payload into bytes and forwards
    /// them to the push hand-off, which passes them to the installed
    /// `TesseraPushHandler` (`handle_push_payload`, then the verified fetch)
    /// and publishes the prompt for the UI.
    func application(
        _ application: UIApplication,
        didReceiveRemoteNotification userInfo: [AnyHashable: Any]
    ) async -> UIBackgroundFetchResult {
        let payload = PushHandoff.payload(fromUserInfo: userInfo)
        let delivery = await model.push.deliver(payload)
        switch delivery {
        case .prompt:
            return .newData
        case .nothingToDo, .noHandler:
            return .noData
        case .unreadable:
            logger.error("a remote notification could not be read as JSON")
            return .failed
        case .failed(let reason):
            logger.error("the push handler failed: \(reason, privacy: .public)")
            return .failed
        }
    }
}
