import CGPIOD
import Config
import DoorbellCore
import Testing

@testable import LinuxGPIO

#if canImport(Glibc)
    import Glibc
#endif

@Suite("GPIO adapter, through its C-call seam", .timeLimit(.minutes(10)))
struct GPIOAdapterTests {
    func button(_ fake: FakeGPIO, line: GPIOLine = .offset(17)) -> GPIOButton {
        GPIOButton(chip: "gpiochip0", line: line, activeLow: true, bias: .pullUp, calls: fake.calls)
    }

    @Test("EINTR from poll and from read is retried, and the edges arrive with their kernel timestamps")
    func interruptedCallsAreRetried() async throws {
        let fake = FakeGPIO {
            $0.requestErrors = [EINTR]
            $0.pollSteps = [.fail(EINTR), .fail(EINTR), .ready]
            $0.readSteps = [
                .fail(EINTR),
                .events([
                    RawGPIOEvent(rising: true, seconds: 12, nanoseconds: 500_000_000),
                    RawGPIOEvent(rising: false, seconds: 12, nanoseconds: 640_000_000),
                ]),
            ]
        }
        var iterator = try button(fake).edges().makeAsyncIterator()
        #expect(try await iterator.next() == ButtonEdge(.pressed, at: .milliseconds(12_500)))
        #expect(try await iterator.next() == ButtonEdge(.released, at: .milliseconds(12_640)))
        #expect(fake.snapshot.requestedFlags.count == 2)  // the first request was interrupted
    }

    @Test("active-low and the pull-up are asked for in the line request")
    func requestFlags() throws {
        let fake = FakeGPIO()
        _ = try button(fake).edges()
        let expected = Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) | Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        #expect(fake.snapshot.requestedFlags == [expected])
    }

    @Test("EBUSY on the request is a busy error naming the line and the chip, and the chip is closed")
    func busyLine() throws {
        let fake = FakeGPIO { $0.requestErrors = [EBUSY] }
        let error = #expect(throws: GPIOError.self) { try button(fake).edges() }
        #expect(error?.kind == .busy)
        #expect(error?.description == "cannot request line 17 on /dev/gpiochip0: Device or resource busy")
        #expect(fake.snapshot.closedChips == 1)
    }

    @Test(
        "chip = auto opens the header's chip by its label on a Pi 5 and a Pi 4, else gpiochip0",
        arguments: [
            (["pinctrl-rp1", "gpiochip0"], "pinctrl-rp1"), (["pinctrl-bcm2711", "gpiochip0"], "pinctrl-bcm2711"),
            (["pinctrl-bcm2835", "gpiochip0"], "pinctrl-bcm2835"), (["gpiochip0"], "gpiochip0"),
        ])
    func automaticChip(chips: [String], expected: String) throws {
        let fake = FakeGPIO { $0.chips = chips }
        _ = try GPIOButton(chip: "auto", line: .offset(17), activeLow: true, bias: .pullUp, calls: fake.calls).edges()
        #expect(fake.snapshot.opened.last == expected)
        #expect(!fake.snapshot.opened.contains("auto"))
    }

    @Test("chip = auto with no header chip names what it tried; a chip it may not open is that error")
    func automaticChipMissing() throws {
        let none = FakeGPIO { $0.chips = ["gpiochip7"] }
        let error = #expect(throws: GPIOError.self) {
            try GPIOButton(chip: "auto", line: .offset(17), activeLow: true, bias: .pullUp, calls: none.calls).edges()
        }
        #expect(error?.kind == .chipNotFound)
        #expect(error?.description.contains("pinctrl-rp1, pinctrl-bcm2711, pinctrl-bcm2835, gpiochip0") == true)
        let denied = FakeGPIO { $0.openError = EACCES }
        let refusal = #expect(throws: GPIOError.self) {
            try GPIOButton(chip: "auto", line: .offset(17), activeLow: true, bias: .pullUp, calls: denied.calls)
                .edges()
        }
        #expect(refusal?.description.hasPrefix("cannot open GPIO chip pinctrl-rp1: Permission denied") == true)
        #expect(denied.snapshot.opened == ["pinctrl-rp1"])
    }

    @Test("the inventory lists every chip with its label and lines, who holds each, and which is the header's")
    func inventory() {
        let fake = FakeGPIO {
            $0.inventory = [
                .init(name: "gpiochip0", label: "pinctrl-bcm2712", lines: [("GPIO0", nil)]),
                .init(
                    name: "gpiochip4", label: "pinctrl-rp1",
                    lines: [("ID_SDA", nil), (nil, nil), ("GPIO17", "porchlightd")]),
                .init(name: "gpiochip9", label: "locked", lines: [], openError: EACCES),
            ]
        }
        let (chips, refused) = GPIOChipInfo.list(["gpiochip0", "gpiochip4", "gpiochip9"], calls: fake.calls)
        #expect(chips.map(\.name) == ["gpiochip0", "gpiochip4"])
        #expect(chips.map(\.label) == ["pinctrl-bcm2712", "pinctrl-rp1"])
        #expect(chips.map(\.isHeader) == [false, true], "the Pi 5's header is RP1, whatever its number")
        #expect(
            chips[1].lines == [
                .init(offset: 0, name: "ID_SDA", consumer: nil), .init(offset: 1, name: nil, consumer: nil),
                .init(offset: 2, name: "GPIO17", consumer: "porchlightd"),
            ])
        #expect(refused == ["gpiochip9: Permission denied"])
    }

    @Test("ENOENT on opening the chip is a chip-not-found error naming the chip")
    func missingChip() throws {
        let fake = FakeGPIO { $0.openError = ENOENT }
        let error = #expect(throws: GPIOError.self) { try button(fake).edges() }
        #expect(error?.kind == .chipNotFound)
        #expect(error?.description == "cannot open GPIO chip gpiochip0: No such file or directory")
        #expect(error?.hint?.contains("gpiodetect") == true)
    }

    @Test("a line name that the chip does not have is a line-not-found error")
    func missingLineName() throws {
        let fake = FakeGPIO()
        let error = #expect(throws: GPIOError.self) { try button(fake, line: .name("GPIO99")).edges() }
        #expect(error?.kind == .lineNotFound)
        #expect(
            error?.description == "cannot find a line named \"GPIO99\" on /dev/gpiochip0: No such file or directory")
        #expect(fake.snapshot.closedChips == 1)
    }

    @Test("a line found by name is described by offset and name")
    func lineByName() async throws {
        let fake = FakeGPIO {
            $0.requestErrors = [EBUSY]
        }
        let error = #expect(throws: GPIOError.self) { try button(fake, line: .name("GPIO17")).edges() }
        #expect(error?.description == "cannot request line 17 (\"GPIO17\") on /dev/gpiochip0: Device or resource busy")
    }

    @Test("a read that fails with ENODEV ends the stream with an error naming the line")
    func deviceGoneWhileReading() async throws {
        let fake = FakeGPIO {
            $0.pollSteps = [.ready]
            $0.readSteps = [.fail(ENODEV)]
        }
        var iterator = try button(fake).edges().makeAsyncIterator()
        let error = await #expect(throws: GPIOError.self) { _ = try await iterator.next() }
        #expect(error?.description == "cannot read edges of line 17 on /dev/gpiochip0: No such device")
    }

    @Test("a hang-up on the event descriptor ends the stream instead of spinning")
    func hangUpEndsTheStream() async throws {
        let fake = FakeGPIO { $0.pollSteps = [.hangUp] }
        var iterator = try button(fake).edges().makeAsyncIterator()
        let error = await #expect(throws: GPIOError.self) { _ = try await iterator.next() }
        #expect(error?.errno == ENODEV)
    }

    @Test("ending the stream stops the reader thread and closes the chip")
    func endingReleasesTheLine() async throws {
        let fake = FakeGPIO()
        do {
            let stream = try button(fake).edges()
            let consumer = Task {
                for try await _ in stream {}
            }
            try await Task.sleep(for: .milliseconds(50))
            consumer.cancel()
            _ = try? await consumer.value
        }
        for _ in 0..<200 where fake.snapshot.closedChips == 0 {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(fake.snapshot.closedChips == 1)
    }

    @Test("the output retries EINTR and reports other failures naming the line")
    func outputLine() throws {
        let fake = FakeGPIO { $0.setErrors = [EINTR] }
        let output = try GPIOOutput(chip: "gpiochip0", line: .offset(27), activeLow: false, calls: fake.calls)
        try output.set(active: true)
        try output.set(active: false)
        #expect(fake.snapshot.values == [1, 0])
        fake.state.withLock { $0.setErrors = [EIO] }
        let error = #expect(throws: GPIOError.self) { try output.set(active: true) }
        #expect(error?.description == "cannot set output line 27 on /dev/gpiochip0: Input/output error")
    }
}

@Suite("GPIO adapter on the real libgpiod", .timeLimit(.minutes(10)))
struct GPIORealLibraryTests {
    @Test("a chip that does not exist is a clear startup error from the real library")
    func missingChipOnRealLibrary() throws {
        let button = GPIOButton(
            chip: "/dev/gpiochip-porchlight-absent", line: .offset(17), activeLow: true, bias: .pullUp)
        let error = #expect(throws: GPIOError.self) { try button.edges() }
        #expect(error?.kind == .chipNotFound)
        #expect(error?.description.hasPrefix("cannot open GPIO chip /dev/gpiochip-porchlight-absent: ") == true)
    }
}
