#if canImport(Network)
import Foundation
import Network

/// One request as a `LoopbackServer` received it.
struct LoopbackRequest: Sendable {
    /// The request line and the headers, without the blank line after them.
    let head: String
    /// The body (`Content-Length` bytes).
    let body: Data

    /// The request line: `GET /path?query HTTP/1.1`.
    var requestLine: String {
        head.components(separatedBy: "\r\n").first ?? ""
    }

    /// The value of header `name` (any case), or `nil` when it was not sent.
    func header(_ name: String) -> String? {
        Self.header(name, in: head)
    }

    /// The value of header `name` (any case) in a request head.
    static func header(_ name: String, in head: String) -> String? {
        for line in head.components(separatedBy: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else {
                continue
            }
            if line[..<colon].lowercased() == name.lowercased() {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}

/// A hand-written HTTP/1.1 server on the loopback interface, for the
/// transport tests: each test decides exactly what goes on the wire, and
/// when.
///
/// Every connection carries one request. The server reads its head and body,
/// records it, and hands it with the connection to the test's `respond`,
/// which writes the answer (with `Connection: close`, so that `URLSession`
/// sends the next request on a new connection).
///
/// `@unchecked Sendable`: the listener is only driven through Network
/// framework calls, which are thread-safe, and `port`, `requests` and
/// `connections` are guarded by `lock`.
final class LoopbackServer: @unchecked Sendable {
    /// What a test does with each request.
    typealias Respond = @Sendable (LoopbackRequest, LoopbackConnection) async -> Void

    private let listener: NWListener
    private let queue = DispatchQueue(label: "org.tessera.tests.loopback")
    private let respond: Respond
    private let lock = NSLock()
    private var port: UInt16 = 0
    private var received: [LoopbackRequest] = []
    private var connections: [LoopbackConnection] = []

    private init(respond: @escaping Respond) throws {
        let parameters = NWParameters.tcp
        parameters.requiredInterfaceType = .loopback
        listener = try NWListener(using: parameters)
        self.respond = respond
    }

    /// Starts a server on a free port of the loopback interface.
    ///
    /// - Parameter respond: called once per request, after it was recorded.
    static func start(respond: @escaping Respond) async throws -> LoopbackServer {
        let server = try LoopbackServer(respond: respond)
        try await server.listen()
        return server
    }

    /// The URL of `pathAndQuery` on this server.
    func url(_ pathAndQuery: String) -> String {
        "http://127.0.0.1:\(locked { port })\(pathAndQuery)"
    }

    /// Every request received so far, in order.
    var requests: [LoopbackRequest] {
        locked { received }
    }

    /// Stops listening and closes every connection.
    func stop() {
        listener.cancel()
        for connection in locked({ connections }) {
            connection.close()
        }
    }

    /// Starts the listener and waits until it accepts connections.
    private func listen() async throws {
        listener.newConnectionHandler = { [weak self] connection in
            self?.accept(connection)
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            // Only the first of `.ready` and `.failed` resumes: the handler
            // removes itself then.
            listener.stateUpdateHandler = { [weak self] state in
                switch state {
                case .ready:
                    self?.listener.stateUpdateHandler = nil
                    continuation.resume()
                case let .failed(error):
                    self?.listener.stateUpdateHandler = nil
                    continuation.resume(throwing: error)
                default:
                    break
                }
            }
            listener.start(queue: queue)
        }
        guard let port = listener.port?.rawValue else {
            throw URLError(.cannotConnectToHost)
        }
        locked { self.port = port }
    }

    /// Reads the request of a new connection, records it and responds.
    private func accept(_ nwConnection: NWConnection) {
        let connection = LoopbackConnection(nwConnection, queue: queue)
        locked { connections.append(connection) }
        let respond = self.respond
        Task { [weak self] in
            guard let request = await connection.readRequest() else {
                connection.close()
                return
            }
            self?.record(request)
            await respond(request, connection)
        }
    }

    private func record(_ request: LoopbackRequest) {
        locked { received.append(request) }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// One accepted connection, read and written with `async` calls.
///
/// `@unchecked Sendable`: it only holds an `NWConnection`, whose calls are
/// thread-safe (they call back on the server's queue).
final class LoopbackConnection: @unchecked Sendable {
    private let connection: NWConnection

    init(_ connection: NWConnection, queue: DispatchQueue) {
        self.connection = connection
        connection.start(queue: queue)
    }

    /// Writes a whole answer with a `Content-Length` body, then closes.
    ///
    /// - Parameters:
    ///   - status: the status code and reason, like `200 OK`.
    ///   - headers: header lines, like `Content-Type: text/plain`.
    ///   - body: the body.
    func respond(status: String, headers: [String] = [], body: String = "") async {
        let lines = ["HTTP/1.1 \(status)"] + headers + ["Content-Length: \(body.utf8.count)", "Connection: close"]
        await write(lines.joined(separator: "\r\n") + "\r\n\r\n" + body)
        close()
    }

    /// Writes `text` and returns once the system has taken it.
    func write(_ text: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            connection.send(content: Data(text.utf8), completion: .contentProcessed { _ in continuation.resume() })
        }
    }

    /// Returns once the client has closed the connection (or it failed).
    func waitForClose() async {
        while await receive() != nil {}
    }

    /// Closes the connection.
    func close() {
        connection.cancel()
    }

    /// Reads one request: its head up to the blank line, then as many bytes
    /// of body as `Content-Length` says. `nil` when the client went away.
    func readRequest() async -> LoopbackRequest? {
        guard let start = await readHead() else {
            return nil
        }
        var body = start.rest
        let length = Int(LoopbackRequest.header("content-length", in: start.head) ?? "") ?? 0
        while body.count < length {
            guard let more = await receive() else {
                return nil
            }
            body.append(more)
        }
        return LoopbackRequest(head: start.head, body: body)
    }

    /// The head as text, and the bytes received after it.
    private func readHead() async -> (head: String, rest: Data)? {
        let blankLine = Data("\r\n\r\n".utf8)
        var buffered = Data()
        while true {
            if let end = buffered.range(of: blankLine) {
                let head = String(decoding: buffered[..<end.lowerBound], as: UTF8.self)
                return (head: head, rest: Data(buffered[end.upperBound...]))
            }
            guard let more = await receive() else {
                return nil
            }
            buffered.append(more)
        }
    }

    /// The next bytes received; `nil` once the client closed the connection
    /// or it failed.
    private func receive() async -> Data? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Data?, Never>) in
            connection.receive(minimumIncompleteLength: 1, maximumLength: 65_536) { data, _, _, _ in
                if let data, !data.isEmpty {
                    continuation.resume(returning: data)
                } else {
                    continuation.resume(returning: nil)
                }
            }
        }
    }
}

/// A one-way signal between a test and a server's `respond`: `wait()`
/// returns once `open()` has been called.
final class Gate: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var isOpen = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Lets every current and later `wait()` return.
    func open() {
        let waiters: [CheckedContinuation<Void, Never>] = locked {
            isOpen = true
            let waiters = waiting
            waiting = []
            return waiters
        }
        for waiter in waiters {
            waiter.resume()
        }
    }

    /// Returns once the gate is open.
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if !enqueue(continuation) {
                continuation.resume()
            }
        }
    }

    /// Keeps `continuation` until `open()`; false when already open.
    private func enqueue(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        locked {
            if isOpen {
                return false
            }
            waiting.append(continuation)
            return true
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
#endif
