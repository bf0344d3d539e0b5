import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SyncProtocol

extension DeviceIdentity {
    /// A request to the sync module at `base`, signed with this device's key and carrying the
    /// protocol version (docs/protocol.md, Authentication): the one way the uplink, the media
    /// uploader and `audit verify` build their requests.
    func request(
        to base: String, _ method: HTTPMethod, _ path: String, body: Data = Data(), contentType: String? = nil
    ) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        request.headers.add(name: "Porchlight-Protocol", value: "\(protocolVersion)")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (name, value) in try sign(method: method.rawValue, path: path, body: body, now: now) {
            request.headers.add(name: name, value: value)
        }
        if method != .GET { request.body = .bytes(ByteBuffer(bytes: body)) }
        return request
    }
}
