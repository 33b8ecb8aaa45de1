#if canImport(Darwin)
import Foundation
import TesseraFFI

/// Tessera's network access over `URLSession`: the HTTPS time sources, push
/// approval and device-to-device transfer all send their requests here.
///
/// The Rust library has no TLS stack of its own, so TLS is the system's:
/// certificates are checked against the system trust store under App
/// Transport Security, and the device's proxy and VPN settings apply as for
/// any other request of the app.
///
/// It keeps the transport contract the core relies on:
/// - nothing is kept between requests: an ephemeral session with no cache,
///   no cookies and no stored credentials, so only the headers the core sets
///   are sent;
/// - redirects are not followed: a 3xx comes back to the core as it is (the
///   core decides where it may go);
/// - ``send(request:)`` returns as soon as the status and headers are in,
///   and the body is read piece by piece through the response's `HttpBody`,
///   since the push stream's body never ends.
///
/// One transport serves any number of requests at once. On Linux, where
/// `URLSession` cannot stream a body, there is none: pass a transport of
/// your own to ``TesseraClient``.
public final class URLSessionHttpTransport: HttpTransport {
    /// The most bytes one `read()` of a body returns.
    static let maxPieceBytes = 16 * 1024

    /// How long a body may go without a byte before `URLSession` drops it.
    /// The core bounds each wait on a body itself (the push stream reconnects
    /// after 45 s of silence), so this only has to be longer than any of
    /// those, and long enough never to cut a quiet stream short first.
    private static let bodyIdleLimit: TimeInterval = 120

    private let session: URLSession

    /// Makes a transport with its own ephemeral `URLSession`.
    public init() {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        configuration.urlCredentialStorage = nil
        session = URLSession(configuration: configuration, delegate: RedirectRefusal(), delegateQueue: nil)
    }

    deinit {
        // A session keeps its delegate, and itself, until it is invalidated.
        session.finishTasksAndInvalidate()
    }

    /// Sends `request` and returns once the status and headers are in.
    ///
    /// `request.timeoutMs` bounds connecting and receiving the status and
    /// headers. It is enforced here rather than through
    /// `URLRequest.timeoutInterval`, because `URLSession` applies that limit
    /// to every wait for data, and so would also end a push stream that
    /// stays quiet for that long.
    ///
    /// - Parameter request: the request, with every header the core needs.
    /// - Returns: the status, the headers, and the body still to be read.
    /// - Throws: `TesseraError.Network` naming only the host (never the path
    ///   or the query, which may carry tokens) when the request fails or
    ///   times out.
    public func send(request: HttpRequest) async throws -> HttpResponse {
        guard let url = URL(string: request.url), let host = url.host else {
            throw TesseraError.Network(reason: "the request has no valid URL")
        }
        let urlRequest = Self.urlRequest(for: request, url: url)
        let session = self.session
        let timeoutMs = request.timeoutMs
        do {
            return try await withThrowingTaskGroup(of: HttpResponse.self) { group in
                group.addTask {
                    let (bytes, response) = try await session.bytes(for: urlRequest)
                    return try URLSessionHttpTransport.response(bytes: bytes, response: response, host: host)
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(timeoutMs))
                    throw TesseraError.Network(reason: "no answer from \(host) within \(timeoutMs) ms")
                }
                // Whichever finishes first decides; cancelling the other
                // stops the timer, or abandons the request that took too long.
                defer { group.cancelAll() }
                // Two tasks were added, so there is a first result.
                return try await group.next()!
            }
        } catch {
            throw Self.networkError(error, host: host)
        }
    }

    /// The `URLRequest` for `request`: its method, headers (repeated names
    /// kept) and body as given.
    private static func urlRequest(for request: HttpRequest, url: URL) -> URLRequest {
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        for header in request.headers {
            urlRequest.addValue(header.value, forHTTPHeaderField: header.name)
        }
        if !request.body.isEmpty {
            urlRequest.httpBody = request.body
        }
        urlRequest.timeoutInterval = max(bodyIdleLimit, TimeInterval(request.timeoutMs) / 1000)
        return urlRequest
    }

    /// The status and headers of `response`, with its body to read from
    /// `bytes`.
    ///
    /// - Throws: `TesseraError.Network` when it is not an HTTP response.
    private static func response(
        bytes: URLSession.AsyncBytes,
        response: URLResponse,
        host: String
    ) throws -> HttpResponse {
        guard let http = response as? HTTPURLResponse else {
            bytes.task.cancel()
            throw TesseraError.Network(reason: "\(host) did not answer over HTTP")
        }
        // Foundation joins repeated headers into one, comma-separated, which
        // is how HTTP defines them anyway.
        let headers = http.allHeaderFields.compactMap { field -> HttpHeader? in
            guard let name = field.key as? String, let value = field.value as? String else {
                return nil
            }
            return HttpHeader(name: name, value: value)
        }
        return HttpResponse(
            status: UInt16(clamping: http.statusCode),
            headers: headers,
            body: URLSessionHttpBody(bytes: bytes, host: host)
        )
    }

    /// `error` as the `TesseraError.Network` the core expects, in a few
    /// words that name the host only: `URLError`'s own descriptions quote
    /// the whole URL.
    static func networkError(_ error: any Error, host: String) -> TesseraError {
        if let error = error as? TesseraError {
            return error
        }
        if error is CancellationError {
            return .Network(reason: "the request to \(host) was cancelled")
        }
        guard let urlError = error as? URLError else {
            return .Network(reason: "the request to \(host) failed")
        }
        switch urlError.code {
        case .timedOut:
            return .Network(reason: "no answer from \(host) in time")
        case .notConnectedToInternet, .dataNotAllowed, .internationalRoamingOff:
            return .Network(reason: "no network connection")
        case .cannotFindHost, .dnsLookupFailed:
            return .Network(reason: "cannot find \(host)")
        case .cannotConnectToHost:
            return .Network(reason: "cannot connect to \(host)")
        case .networkConnectionLost:
            return .Network(reason: "the connection to \(host) was lost")
        case .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
            .serverCertificateHasUnknownRoot:
            return .Network(reason: "the certificate of \(host) is not trusted")
        case .secureConnectionFailed, .clientCertificateRejected, .clientCertificateRequired:
            return .Network(reason: "no secure connection to \(host)")
        case .appTransportSecurityRequiresSecureConnection:
            return .Network(reason: "\(host) must be reached over HTTPS")
        case .cancelled:
            return .Network(reason: "the request to \(host) was cancelled")
        default:
            return .Network(reason: "cannot reach \(host) (URL error \(urlError.errorCode))")
        }
    }
}

/// The session delegate that refuses every redirect, so that `URLSession`
/// hands the 3xx response itself back instead of following it.
private final class RedirectRefusal: NSObject, URLSessionTaskDelegate {
    func urlSession(
        _ session: URLSession,
        task: URLSessionTask,
        willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest
    ) async -> URLRequest? {
        nil
    }
}

/// The body of a response of ``URLSessionHttpTransport``, read from
/// `URLSession.AsyncBytes`.
///
/// `AsyncBytes` yields one byte at a time and cannot tell how many more are
/// already buffered, so a read gathers bytes up to and including the next
/// newline, or up to ``URLSessionHttpTransport/maxPieceBytes``: a server-sent
/// event line comes back as soon as it is complete, and other bodies
/// (JSON) in a few large pieces.
///
/// It is `@unchecked Sendable` because the byte iterator is not `Sendable`.
/// The iterator is only ever used by the one `read()` that took it out of
/// `state` under `lock` (and put it back the same way), so it never runs on
/// two threads at once; `cancel()`, which may come from another thread while
/// a read waits, changes `state` under the same lock and cancels the data
/// task, which is thread-safe.
final class URLSessionHttpBody: HttpBody, @unchecked Sendable {
    /// Where the body is, between reads.
    private enum BodyState {
        /// Ready for the next read, which takes the iterator.
        case ready(URLSession.AsyncBytes.AsyncIterator)
        /// A read holds the iterator.
        case reading
        /// The body ended or was closed: reads return `nil`.
        case done
        /// Reading the body failed: reads throw this again.
        case failed(TesseraError)
    }

    /// The host, for error messages.
    private let host: String
    private let task: URLSessionDataTask
    private let lock = NSLock()
    /// Guarded by `lock`.
    private var state: BodyState

    /// The body `bytes` will deliver, from `host`.
    init(bytes: URLSession.AsyncBytes, host: String) {
        self.host = host
        task = bytes.task
        state = .ready(bytes.makeAsyncIterator())
    }

    deinit {
        // Releases the connection of a body dropped without `cancel()`;
        // cancelling a finished task does nothing.
        task.cancel()
    }

    /// The next piece of the body: up to the next newline or
    /// ``URLSessionHttpTransport/maxPieceBytes``; `nil` at its end and after
    /// `cancel()`, also when `cancel()` ends this very read.
    ///
    /// - Throws: `TesseraError.Network` when the connection fails.
    func read() async throws -> Data? {
        guard var iterator = try takeIterator() else {
            return nil
        }
        var piece = Data()
        var ended = false
        do {
            while piece.count < URLSessionHttpTransport.maxPieceBytes {
                guard let byte = try await iterator.next() else {
                    ended = true
                    break
                }
                piece.append(byte)
                if byte == UInt8(ascii: "\n") {
                    break
                }
            }
        } catch {
            if let failure = recordFailure(error) {
                throw failure
            }
            return nil
        }
        guard giveBack(iterator, ended: ended) else {
            return nil
        }
        return piece.isEmpty ? nil : piece
    }

    /// Ends the body: a waiting read returns `nil`, and so does every later
    /// one. The connection is closed, not kept for another request.
    func cancel() {
        locked { state = .done }
        task.cancel()
    }

    /// Takes the iterator for a read; `nil` when the body is over.
    private func takeIterator() throws -> URLSession.AsyncBytes.AsyncIterator? {
        try locked {
            switch state {
            case let .ready(iterator):
                state = .reading
                return iterator
            case .reading:
                throw TesseraError.Network(reason: "the answer of \(host) is already being read")
            case .done:
                return nil
            case let .failed(error):
                throw error
            }
        }
    }

    /// Puts the iterator back after a read (or marks the body over at its
    /// end). Returns false when the body was closed meanwhile: the read then
    /// returns `nil`, whatever it got.
    private func giveBack(_ iterator: URLSession.AsyncBytes.AsyncIterator, ended: Bool) -> Bool {
        locked {
            guard case .reading = state else {
                return false
            }
            state = ended ? .done : .ready(iterator)
            return true
        }
    }

    /// Records that reading failed; returns the error to throw, or `nil`
    /// when the failure is only `cancel()` cancelling the task.
    private func recordFailure(_ error: any Error) -> TesseraError? {
        locked {
            guard case .reading = state else {
                return nil
            }
            let failure = URLSessionHttpTransport.networkError(error, host: host)
            state = .failed(failure)
            return failure
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
#endif
