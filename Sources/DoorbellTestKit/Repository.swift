import Foundation

/// The repository's root, found from this file's path.
public let repositoryRoot = #filePath.components(separatedBy: "/Sources/DoorbellTestKit/")[0]

/// The labelled clips beside the repository (`../shared/footage`).
public let footageDirectory = repositoryRoot + "/../shared/footage"

public struct MissingFootage: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "footage \(path) not found (is ../shared beside the repository?)" }
}

/// The bytes of a clip in ``footageDirectory``.
public func footage(_ name: String) throws -> [UInt8] {
    let path = "\(footageDirectory)/\(name)"
    guard let data = FileManager.default.contents(atPath: path) else { throw MissingFootage(path: path) }
    return [UInt8](data)
}
