import Synchronization

@testable import LinuxGPIO

#if canImport(Glibc)
    import Glibc
#endif

/// A scripted libgpiod: each call pops its next scripted result (a value, or -1 with an errno)
/// and records what it was asked. When the poll script runs out, poll waits on the real wake-up
/// descriptor only, so ending the stream still stops the reader thread.
final class FakeGPIO: Sendable {
    enum PollStep: Sendable {
        case fail(Int32)
        case ready
        case hangUp
    }

    enum ReadStep: Sendable {
        case fail(Int32)
        case events([RawGPIOEvent])
    }

    struct State {
        var openError: Int32?
        /// The chips that open, by path, name or label; nil: any.
        var chips: [String]?
        var opened: [String] = []
        /// For the inventory: the chips there are, each opened by its name or label.
        var inventory: [FakeChip] = []
        var lineNames: [String: UInt32] = ["GPIO17": 17]
        var requestErrors: [Int32] = []
        var pollSteps: [PollStep] = []
        var readSteps: [ReadStep] = []
        var setErrors: [Int32] = []
        var requestedFlags: [Int32] = []
        var values: [Int32] = []
        var closedChips = 0
    }

    struct FakeChip: Sendable {
        var name: String
        var label: String
        /// Each line's name and consumer.
        var lines: [(name: String?, consumer: String?)]
        /// The errno opening it fails with, if it does.
        var openError: Int32?
    }

    let state: Mutex<State>

    /// Inventory chips are 0x10000 apart; a line is its chip plus 1 plus its offset.
    static func inventoryChip(_ index: Int) -> OpaquePointer { OpaquePointer(bitPattern: 0x10000 * (index + 1))! }
    func inventory(_ pointer: OpaquePointer) -> (chip: FakeChip, line: Int)? {
        let bits = Int(bitPattern: UnsafeRawPointer(pointer))
        let index = bits / 0x10000 - 1
        return state.withLock { state in
            guard state.inventory.indices.contains(index) else { return nil }
            return (state.inventory[index], bits % 0x10000 - 1)
        }
    }
    static var chip: OpaquePointer { OpaquePointer(bitPattern: 0x1000)! }
    static func line(_ offset: UInt32) -> OpaquePointer { OpaquePointer(bitPattern: 0x2000 + Int(offset))! }
    static let eventDescriptor: Int32 = 999

    init(_ configure: (inout State) -> Void = { _ in }) {
        var initial = State()
        configure(&initial)
        state = Mutex(initial)
    }

    var snapshot: State { state.withLock { $0 } }

    var calls: GPIOCalls {
        GPIOCalls(
            openChip: { [self] spec in
                let (code, known, index) = self.state.withLock { state in
                    state.opened.append(spec)
                    let index = state.inventory.firstIndex { $0.name == spec || $0.label == spec }
                    if !state.inventory.isEmpty {
                        return (index.flatMap { state.inventory[$0].openError }, index != nil, index)
                    }
                    return (state.openError, state.chips.map { $0.contains(spec) } ?? true, index)
                }
                if let code {
                    errno = code
                    return nil
                }
                guard known else {
                    errno = ENOENT
                    return nil
                }
                return index.map(FakeGPIO.inventoryChip) ?? FakeGPIO.chip
            },
            closeChip: { [self] _ in self.state.withLock { $0.closedChips += 1 } },
            chipName: { [self] chip in self.inventory(chip)?.chip.name ?? "gpiochip0" },
            lineAtOffset: { [self] chip, offset in
                guard self.inventory(chip) != nil else { return FakeGPIO.line(offset) }
                return OpaquePointer(bitPattern: Int(bitPattern: UnsafeRawPointer(chip)) + 1 + Int(offset))
            },
            lineNamed: { [self] _, name in
                guard let offset = self.state.withLock({ $0.lineNames[name] }) else {
                    errno = ENOENT
                    return nil
                }
                return FakeGPIO.line(offset)
            },
            lineOffset: { line in UInt32(Int(bitPattern: UnsafeRawPointer(line)) - 0x2000) },
            requestEdges: { [self] _, _, flags in self.request(flags) },
            requestOutput: { [self] _, _, flags, _ in self.request(flags) },
            eventDescriptor: { _ in FakeGPIO.eventDescriptor },
            poll: { [self] descriptors, count, timeout in
                let step = self.state.withLock { $0.pollSteps.isEmpty ? nil : $0.pollSteps.removeFirst() }
                switch step {
                case .fail(let code):
                    errno = code
                    return -1
                case .ready:
                    descriptors[0].revents = Int16(POLLIN)
                    descriptors[1].revents = 0
                    return 1
                case .hangUp:
                    descriptors[0].revents = Int16(POLLERR)
                    descriptors[1].revents = 0
                    return 1
                case nil:
                    descriptors[0].revents = 0
                    return Glibc.poll(descriptors + 1, 1, timeout)
                }
            },
            readEvents: { [self] _, events in
                let step = self.state.withLock { $0.readSteps.isEmpty ? nil : $0.readSteps.removeFirst() }
                switch step {
                case .fail(let code):
                    errno = code
                    return -1
                case .events(let scripted):
                    events = scripted
                    return Int32(scripted.count)
                case nil:
                    errno = EAGAIN
                    return -1
                }
            },
            setValue: { [self] _, value in
                let failure = self.state.withLock { state -> Int32? in
                    if !state.setErrors.isEmpty { return state.setErrors.removeFirst() }
                    state.values.append(value)
                    return nil
                }
                if let failure {
                    errno = failure
                    return -1
                }
                return 0
            },
            chipLabel: { [self] chip in self.inventory(chip)?.chip.label ?? "fake" },
            lineCount: { [self] chip in UInt32(self.inventory(chip)?.chip.lines.count ?? 0) },
            lineName: { [self] line in self.inventory(line).flatMap { $0.chip.lines[$0.line].name } },
            lineConsumer: { [self] line in self.inventory(line).flatMap { $0.chip.lines[$0.line].consumer } }
        )
    }

    private func request(_ flags: Int32) -> Int32 {
        let failure = state.withLock { state -> Int32? in
            state.requestedFlags.append(flags)
            return state.requestErrors.isEmpty ? nil : state.requestErrors.removeFirst()
        }
        if let failure {
            errno = failure
            return -1
        }
        return 0
    }
}
