import os
import Tessera
import UIKit

/// The UIKit side of the app: owns the app model and hands APNs traffic to
/// Tessera's push hand-off.
///
/// Push approval is not in the Rust API yet (see `PushPayloadHandler.swift` in
/// the Tessera package): no `PushPayloadHandler` is installed, so the app does
/// not register for remote notifications, and a notification that arrives
/// anyway is forwarded, dropped by the hand-off, and reported as "no data".
/// When the push issue lands, installing its handler in `model.push` is the
/// only change this file needs.
final class AppDelegate: NSObject, UIApplicationDelegate {
    /// The app's state, shared with the SwiftUI scene.
    let model = AppModel()

    private let logger = Logger(subsystem: "org.tessera.app", category: "push")

    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil
    ) -> Bool {
        let push = model.push
        Task { @MainActor in
            if await push.hasHandler {
                UIApplication.shared.registerForRemoteNotifications()
            }
        }
        return true
    }

    func application(
        _ application: UIApplication,
        didRegisterForRemoteNotificationsWithDeviceToken deviceToken: Data
    ) {
        let push = model.push
        let logger = self.logger
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
    /// `PushPayloadHandler` and publishes any prompt for the UI.
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
