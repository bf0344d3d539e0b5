import SyncProtocol

extension AccessSigner {
    /// A log of `count` entries as a writer with `rotation` writes it, a checkpoint every segment;
    /// entry `i` is at `at(i)`, with `detail` "\(i)".
    public func log(
        _ count: Int, rotation: AccessRotation, at: (Int) -> Int64 = { Int64($0) }, action: String = "clip-view"
    ) throws -> [AccessRecord] {
        var records: [AccessRecord] = []
        for index in 0..<count {
            if rotation.checkpointDue(after: records.last), let last = records.last {
                records.append(try checkpoint(after: last, at: last.at))
            }
            records.append(
                try entry(
                    after: records.last, at: at(index), actor: "owner:ann", action: action, device: "d1",
                    detail: "\(index)", source: "web"))
        }
        return records
    }
}
