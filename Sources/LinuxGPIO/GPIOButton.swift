internal import CGPIOD
import DoorbellCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The doorbell button on a GPIO line: both edges requested with the configured active-low and
/// bias, read with their kernel timestamps by a poll-driven loop on a dedicated thread and
/// bridged into an `AsyncThrowingStream`. Ending the stream wakes the thread, which releases
/// the line.
public struct GPIOButton: ButtonSource {
    let chip: String
    let line: GPIOLine
    let activeLow: Bool
    let bias: GPIOBias
    let calls: GPIOCalls

    public init(chip: String, line: GPIOLine, activeLow: Bool, bias: GPIOBias) {
        self.init(chip: chip, line: line, activeLow: activeLow, bias: bias, calls: .libgpiod)
    }

    init(chip: String, line: GPIOLine, activeLow: Bool, bias: GPIOBias, calls: GPIOCalls) {
        self.chip = chip
        self.line = line
        self.activeLow = activeLow
        self.bias = bias
        self.calls = calls
    }

    public func edges() throws -> AsyncThrowingStream<ButtonEdge, any Error> {
        let (activeLow, bias, calls) = (activeLow, bias, calls)
        let handle = try GPIOChipLine(chip: chip, line: line, calls: calls, action: "request") { chip, offset in
            calls.requestInput(chip, offset, GPIOChipLine.consumer, activeLow, bias)
        }
        let descriptor: Int32
        switch valueOrErrno({ calls.requestDescriptor(handle.request) }) {
        case .success(let value): descriptor = value
        case .failure(let failure):
            throw GPIOError(
                "get the event descriptor of line \(handle.lineDescription) on \(handle.chipPath)", errno: failure.code)
        }
        // An eventfd wakes the reader when the stream ends: poll sees it become readable.
        let wake: Int32
        switch valueOrErrno({ eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }) {
        case .success(let value): wake = value
        case .failure(let failure):
            throw GPIOError("create a wake-up descriptor for line \(handle.lineDescription)", errno: failure.code)
        }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ButtonEdge.self)
        continuation.onTermination = { _ in
            var one: UInt64 = 1
            _ = write(wake, &one, MemoryLayout<UInt64>.size)
        }
        let reader = Thread {
            EdgeReader(handle: handle, descriptor: descriptor, wake: wake, continuation: continuation).run()
            close(wake)
        }
        reader.name = "gpio-button"
        reader.start()
        return stream
    }
}

/// The reader thread's loop: poll, read a batch of events, yield them; stop when woken.
struct EdgeReader {
    let handle: GPIOChipLine
    let descriptor: Int32
    let wake: Int32
    let continuation: AsyncThrowingStream<ButtonEdge, any Error>.Continuation

    func run() {
        let calls = handle.calls
        var descriptors = [
            pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
        ]
        var events: [RawGPIOEvent] = []
        while true {
            if case .failure(let failure) = valueOrErrno({ calls.poll(&descriptors, descriptors.count, -1) }) {
                return fail("wait for edges on line \(handle.lineDescription) on \(handle.chipPath)", failure.code)
            }
            if descriptors[1].revents != 0 {
                continuation.finish()
                return
            }
            let revents = Int32(descriptors[0].revents)
            if revents & (Int32(POLLERR) | Int32(POLLHUP) | Int32(POLLNVAL)) != 0 && revents & Int32(POLLIN) == 0 {
                return fail("wait for edges on line \(handle.lineDescription) on \(handle.chipPath)", ENODEV)
            }
            guard revents & Int32(POLLIN) != 0 else { continue }
            let count: Int32
            switch valueOrErrno({ calls.readEdges(handle.request, &events) }) {
            case .success(let value) where value > 0: count = value
            case .success: return fail("read edges of line \(handle.lineDescription) on \(handle.chipPath)", EIO)
            case .failure(let failure) where failure.code == EAGAIN: continue
            case .failure(let failure):
                return fail("read edges of line \(handle.lineDescription) on \(handle.chipPath)", failure.code)
            }
            for event in events.prefix(Int(count)) {
                let time = Duration.seconds(event.seconds) + .nanoseconds(event.nanoseconds)
                continuation.yield(ButtonEdge(event.rising ? .pressed : .released, at: time))
            }
        }
    }

    private func fail(_ action: String, _ code: Int32) {
        continuation.finish(throwing: GPIOError(action, errno: code))
    }
}
