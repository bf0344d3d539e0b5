import Foundation
import Hummingbird
import Privacy

/// A command the owner's page signed, as the page sends it: `{"signed": text, "signature": base64}`
/// (docs/privacy.md, "Owner-signed commands"). The sync module reads the name, the doorbell and
/// the session to route it and to refuse a mismatch early, and relays the text unchanged; only the
/// doorbell's check counts.
struct OwnerSigned: Sendable {
    var text: String
    var signature: String
    var command: OwnerCommand

    struct Refusal: Error, Sendable {
        var reason: String
    }

    struct Body: Decodable {
        var signed: String
        var signature: String
    }

    static func read(_ request: Request, name: String, device: String) async -> Result<Self, Refusal> {
        var request = request
        guard var buffer = try? await request.collectBody(upTo: 8192) else {
            return .failure(Refusal(reason: "the signed command is larger than 8 KiB"))
        }
        return parse(buffer.readData(length: buffer.readableBytes) ?? Data(), name: name, device: device)
    }

    static func parse(_ data: Data, name: String, device: String) -> Result<Self, Refusal> {
        guard let body = try? JSONDecoder().decode(Body.self, from: data),
            body.signed.utf8.count <= OwnerCommand.maximumText,
            let command = try? JSONDecoder().decode(OwnerCommand.self, from: Data(body.signed.utf8))
        else {
            return .failure(
                Refusal(
                    reason: "expected {\"signed\", \"signature\"}: a command signed with your key (unlock it first)"))
        }
        guard command.name == name, command.device == device else {
            return .failure(Refusal(reason: "the signed command is not \(name) for this doorbell"))
        }
        return .success(OwnerSigned(text: body.signed, signature: body.signature, command: command))
    }
}
