import DoorbellCore
import Synchronization

@testable import LinuxGPIO

#if canImport(Glibc)
    import Glibc
#endif

/// A scripted libgpiod behind the same table as the real one: chips by path with their labels
/// and lines, and each call's next scripted result (a value, or a failure with an errno). It
/// records what it was asked. When the poll script runs out, poll waits on the real wake-up
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

    struct Chip: Sendable {
        /// `gpiochip0`: its path is `/dev/gpiochip0`.
        var name: String
        var label: String
        /// Each line's name and consumer.
        var lines: [(name: String?, consumer: String?)]
        /// The errno opening it fails with, if it does.
        var openError: Int32?

        /// A chip of `count` lines, line 17 named GPIO17 as on the Pi's header.
        init(_ name: String, label: String, count: Int = 54, openError: Int32? = nil) {
            self.name = name
            self.label = label
            lines = (0..<count).map { ($0 == 17 ? "GPIO17" : nil, nil) }
            self.openError = openError
        }

        init(_ name: String, label: String, lines: [(name: String?, consumer: String?)], openError: Int32? = nil) {
            self.name = name
            self.label = label
            self.lines = lines
            self.openError = openError
        }
    }

    /// A line request as the adapter asked for it.
    struct Request: Sendable, Equatable {
        var chip: String
        var offset: UInt32
        var activeLow: Bool
        /// nil for an output.
        var bias: GPIOBias?
        var initial: Bool?
    }

    struct State {
        var chips: [Chip] = [Chip("gpiochip0", label: "pinctrl-bcm2711")]
        /// The paths opened, in order.
        var opened: [String] = []
        var requestErrors: [Int32] = []
        var pollSteps: [PollStep] = []
        var readSteps: [ReadStep] = []
        var setErrors: [Int32] = []
        var requests: [Request] = []
        var values: [Int32] = []
        /// "release" and "close gpiochip0", in the order they happened.
        var teardown: [String] = []
        var closedChips: Int { teardown.filter { $0.hasPrefix("close") }.count }
    }

    let state: Mutex<State>

    /// Chips are 0x10000 apart from 0x10000; requests count up from 0x1000_0000.
    static func chipPointer(_ index: Int) -> OpaquePointer { OpaquePointer(bitPattern: 0x10000 * (index + 1))! }
    static func requestPointer(_ index: Int) -> OpaquePointer { OpaquePointer(bitPattern: 0x1000_0000 + index)! }
    static let eventDescriptor: Int32 = 999

    func chip(_ pointer: OpaquePointer) -> Chip? {
        let index = Int(bitPattern: UnsafeRawPointer(pointer)) / 0x10000 - 1
        return state.withLock { $0.chips.indices.contains(index) ? $0.chips[index] : nil }
    }

    init(_ configure: (inout State) -> Void = { _ in }) {
        var initial = State()
        configure(&initial)
        state = Mutex(initial)
    }

    var snapshot: State { state.withLock { $0 } }

    var calls: GPIOCalls {
        GPIOCalls(
            chipPaths: { [self] in self.state.withLock { $0.chips.map { "/dev/\($0.name)" } } },
            open: { [self] path in
                let result = self.state.withLock { state -> Result<Int, ErrorNumber> in
                    state.opened.append(path)
                    guard let index = state.chips.firstIndex(where: { "/dev/\($0.name)" == path }) else {
                        return .failure(ErrorNumber(ENOENT))
                    }
                    if let code = state.chips[index].openError { return .failure(ErrorNumber(code)) }
                    return .success(index)
                }
                switch result {
                case .success(let index): return FakeGPIO.chipPointer(index)
                case .failure(let failure):
                    errno = failure.code
                    return nil
                }
            },
            close: { [self] pointer in
                let name = self.chip(pointer)?.name ?? "?"
                self.state.withLock { $0.teardown.append("close \(name)") }
            },
            chipInfo: { [self] pointer in
                self.chip(pointer).map {
                    RawChipInfo(name: $0.name, label: $0.label, lineCount: UInt32($0.lines.count))
                }
            },
            lineInfo: { [self] pointer, offset in
                guard let chip = self.chip(pointer), chip.lines.indices.contains(Int(offset)) else {
                    errno = EINVAL
                    return nil
                }
                let line = chip.lines[Int(offset)]
                return RawLineInfo(name: line.name, consumer: line.consumer)
            },
            findLine: { [self] pointer, name in
                guard let offset = self.chip(pointer)?.lines.firstIndex(where: { $0.name == name }) else {
                    errno = ENOENT
                    return -1
                }
                return Int32(offset)
            },
            requestInput: { [self] pointer, offset, _, activeLow, bias in
                self.request(
                    Request(
                        chip: self.chip(pointer)?.name ?? "?", offset: offset, activeLow: activeLow, bias: bias,
                        initial: nil))
            },
            requestOutput: { [self] pointer, offset, _, activeLow, initial in
                self.request(
                    Request(
                        chip: self.chip(pointer)?.name ?? "?", offset: offset, activeLow: activeLow, bias: nil,
                        initial: initial))
            },
            requestDescriptor: { _ in FakeGPIO.eventDescriptor },
            release: { [self] _ in self.state.withLock { $0.teardown.append("release") } },
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
            readEdges: { [self] _, events in
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
            }
        )
    }

    private func request(_ request: Request) -> OpaquePointer? {
        let result = state.withLock { state -> Result<Int, ErrorNumber> in
            state.requests.append(request)
            if !state.requestErrors.isEmpty { return .failure(ErrorNumber(state.requestErrors.removeFirst())) }
            return .success(state.requests.count)
        }
        switch result {
        case .success(let index): return FakeGPIO.requestPointer(index)
        case .failure(let failure):
            errno = failure.code
            return nil
        }
    }
}
