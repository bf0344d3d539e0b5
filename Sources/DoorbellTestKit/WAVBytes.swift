/// A WAV file's bytes, for tests of the decoder and of what the door plays: `format` 1 is PCM;
/// `extraChunk` puts a `LIST` chunk before the data, as many editors write.
public func wavBytes(
    format: Int = 1, channels: Int, rate: Int, bits: Int, data: [UInt8], extraChunk: Bool = false
) -> [UInt8] {
    func le(_ value: Int, _ count: Int) -> [UInt8] { (0..<count).map { UInt8((value >> (8 * $0)) & 0xFF) } }
    let block = channels * bits / 8
    var fmt = le(format, 2) + le(channels, 2) + le(rate, 4) + le(rate * block, 4) + le(block, 2) + le(bits, 2)
    fmt = Array("fmt ".utf8) + le(fmt.count, 4) + fmt
    let list = extraChunk ? Array("LIST".utf8) + le(3, 4) + [1, 2, 3, 0] : []
    let body = Array("WAVE".utf8) + fmt + list + Array("data".utf8) + le(data.count, 4) + data
    return Array("RIFF".utf8) + le(body.count, 4) + body
}

/// Samples as little-endian bytes.
public func le16(_ samples: [Int16]) -> [UInt8] {
    samples.flatMap { [UInt8(UInt16(bitPattern: $0) & 0xFF), UInt8(UInt16(bitPattern: $0) >> 8)] }
}
