import DoorbellCore
import DoorbellTestKit
import Foundation
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
        #expect(fake.snapshot.requests.count == 2)  // the first request was interrupted
    }

    @Test("active-low and the pull-up are asked for in the line request")
    func requestSettings() throws {
        let fake = FakeGPIO()
        _ = try button(fake).edges()
        #expect(
            fake.snapshot.requests == [
                .init(chip: "gpiochip0", offset: 17, activeLow: true, bias: .pullUp, initial: nil)
            ])
    }

    @Test("EBUSY on the request is a busy error naming the line and the chip, and the chip is closed")
    func busyLine() throws {
        let fake = FakeGPIO { $0.requestErrors = [EBUSY] }
        let error = #expect(throws: GPIOError.self) { try button(fake).edges() }
        #expect(error?.kind == .busy)
        #expect(error?.description == "cannot request line 17 on /dev/gpiochip0: Device or resource busy")
        #expect(fake.snapshot.teardown == ["close gpiochip0"])
    }

    @Test(
        "chip = auto opens the header's chip by its label on a Pi 5 (old and new numbering), a Pi 4 and a Pi 3, else gpiochip0",
        arguments: [
            ([("gpiochip0", "pinctrl-rp1"), ("gpiochip10", "gpio-brcmstb@107d508500")], "gpiochip0"),
            ([("gpiochip0", "gpio-brcmstb@107d508500"), ("gpiochip4", "pinctrl-rp1")], "gpiochip4"),
            ([("gpiochip0", "pinctrl-bcm2711"), ("gpiochip1", "raspberrypi-exp-gpio")], "gpiochip0"),
            ([("gpiochip1", "raspberrypi-exp-gpio"), ("gpiochip2", "pinctrl-bcm2835")], "gpiochip2"),
            ([("gpiochip0", "1c20800.pinctrl"), ("gpiochip1", "1f02c00.pinctrl")], "gpiochip0"),
        ])
    func automaticChip(chips: [(String, String)], expected: String) throws {
        let fake = FakeGPIO { $0.chips = chips.map { FakeGPIO.Chip($0.0, label: $0.1) } }
        // Kept open while the fake is read: a dropped button closes its chip too, on its reader's
        // thread, which under load raced the count (CI saw 2 for 1).
        let button = try GPIOButton(chip: "auto", line: .offset(17), activeLow: true, bias: .pullUp, calls: fake.calls)
        let edges = try button.edges()
        #expect(fake.snapshot.requests.map(\.chip) == [expected])
        #expect(fake.snapshot.closedChips == chips.count - 1, "every other chip it looked at is closed")
        withExtendedLifetime((button, edges)) {}
    }

    @Test("a chip is found by its path, its name, its number or its label")
    func chipSpecs() throws {
        for spec in ["/dev/gpiochip4", "gpiochip4", "4", "pinctrl-rp1"] {
            let fake = FakeGPIO {
                $0.chips = [
                    .init("gpiochip0", label: "gpio-brcmstb@107d508500"), .init("gpiochip4", label: "pinctrl-rp1"),
                ]
            }
            _ = try GPIOButton(chip: spec, line: .offset(17), activeLow: true, bias: .pullUp, calls: fake.calls)
                .edges()
            #expect(fake.snapshot.requests.map(\.chip) == ["gpiochip4"], "\(spec)")
        }
        let fake = FakeGPIO()
        let error = #expect(throws: GPIOError.self) {
            try GPIOButton(chip: "pinctrl-rp1", line: .offset(17), activeLow: true, bias: .pullUp, calls: fake.calls)
                .edges()
        }
        #expect(error?.kind == .chipNotFound)
        #expect(error?.description == "cannot find a GPIO chip labelled \"pinctrl-rp1\": No such file or directory")
    }

    @Test("chip = auto with no header chip names what it tried; a chip it may not open is that error")
    func automaticChipMissing() throws {
        func open(_ fake: FakeGPIO) throws {
            _ = try GPIOButton(chip: "auto", line: .offset(17), activeLow: true, bias: .pullUp, calls: fake.calls)
                .edges()
        }
        let none = FakeGPIO { $0.chips = [.init("gpiochip7", label: "gpio-mockup-A")] }
        let error = #expect(throws: GPIOError.self) { try open(none) }
        #expect(error?.kind == .chipNotFound)
        #expect(error?.description.contains("pinctrl-rp1, pinctrl-bcm2711, pinctrl-bcm2835, gpiochip0") == true)
        let denied = FakeGPIO { $0.chips = [.init("gpiochip0", label: "pinctrl-rp1", openError: EACCES)] }
        let refusal = #expect(throws: GPIOError.self) { try open(denied) }
        #expect(refusal?.description == "cannot open GPIO chip /dev/gpiochip0: Permission denied")
        #expect(refusal?.kind == .permissionDenied)
        // A Pi 5 on an old kernel: gpiochip0 is not the header's, so its refusal does not matter.
        let elsewhere = FakeGPIO {
            $0.chips = [
                .init("gpiochip0", label: "gpio-brcmstb@107d508500", openError: EACCES),
                .init("gpiochip4", label: "pinctrl-rp1"),
            ]
        }
        try open(elsewhere)
        #expect(elsewhere.snapshot.requests.map(\.chip) == ["gpiochip4"])
    }

    @Test("the inventory lists every chip with its label and lines, who holds each, and which is the header's")
    func inventory() {
        let fake = FakeGPIO {
            $0.chips = [
                .init("gpiochip0", label: "pinctrl-bcm2712", lines: [("GPIO0", nil)]),
                .init(
                    "gpiochip4", label: "pinctrl-rp1", lines: [("ID_SDA", nil), (nil, nil), ("GPIO17", "porchlightd")]),
                .init("gpiochip9", label: "locked", lines: [], openError: EACCES),
            ]
        }
        let (chips, refused) = GPIOChipInfo.list(calls: fake.calls)
        #expect(chips.map(\.name) == ["gpiochip0", "gpiochip4"])
        #expect(chips.map(\.label) == ["pinctrl-bcm2712", "pinctrl-rp1"])
        #expect(chips.map(\.isHeader) == [false, true], "the Pi 5's header is RP1, whatever its number")
        #expect(
            chips[1].lines == [
                .init(offset: 0, name: "ID_SDA", consumer: nil), .init(offset: 1, name: nil, consumer: nil),
                .init(offset: 2, name: "GPIO17", consumer: "porchlightd"),
            ])
        #expect(refused == ["gpiochip9: Permission denied"])
        #expect(fake.snapshot.closedChips == fake.snapshot.opened.count - refused.count, "every chip opened is closed")
    }

    @Test("a chip reached by two paths (a udev link, as for a Pi 5's old gpiochip4) is listed once")
    func inventoryAlias() {
        let fake = FakeGPIO {
            $0.chips = [
                .init("gpiochip0", label: "pinctrl-rp1", count: 54),
                .init("gpiochip0", label: "pinctrl-rp1", count: 54),
            ]
        }
        let (chips, refused) = GPIOChipInfo.list(calls: fake.calls)
        #expect(chips.map(\.name) == ["gpiochip0"])
        #expect(chips.first?.isHeader == true)
        #expect(refused.isEmpty)
    }

    @Test("ENOENT on opening the chip is a chip-not-found error naming the chip")
    func missingChip() throws {
        let fake = FakeGPIO { $0.chips = [] }
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
        #expect(fake.snapshot.teardown == ["close gpiochip0"])
        #expect(fake.snapshot.requests.isEmpty)
    }

    @Test("an offset beyond the chip's lines is a line-not-found error, checked before any request")
    func offsetBeyondTheChip() throws {
        let fake = FakeGPIO { $0.chips = [.init("gpiochip0", label: "pinctrl-bcm2711", count: 54)] }
        let error = #expect(throws: GPIOError.self) { try button(fake, line: .offset(54)).edges() }
        #expect(error?.kind == .lineNotFound)
        #expect(error?.description == "cannot find line 54 on /dev/gpiochip0: Invalid argument")
        #expect(fake.snapshot.requests.isEmpty)
        #expect(fake.snapshot.teardown == ["close gpiochip0"])
    }

    @Test("a line found by name is requested at its offset and described by offset and name")
    func lineByName() async throws {
        let fake = FakeGPIO {
            $0.requestErrors = [EBUSY]
        }
        let error = #expect(throws: GPIOError.self) { try button(fake, line: .name("GPIO17")).edges() }
        #expect(error?.description == "cannot request line 17 (\"GPIO17\") on /dev/gpiochip0: Device or resource busy")
        #expect(fake.snapshot.requests.map(\.offset) == [17])
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

    @Test("ending the stream stops the reader thread, releases the line, then closes the chip")
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
        #expect(await eventually { fake.snapshot.closedChips == 1 })
        #expect(fake.snapshot.teardown == ["release", "close gpiochip0"])
    }

    @Test(
        "the output is requested inactive with its active-low, retries EINTR and reports other failures naming the line"
    )
    func outputLine() throws {
        let fake = FakeGPIO { $0.setErrors = [EINTR] }
        let output = try GPIOOutput(chip: "gpiochip0", line: .offset(27), activeLow: true, calls: fake.calls)
        #expect(
            fake.snapshot.requests == [.init(chip: "gpiochip0", offset: 27, activeLow: true, bias: nil, initial: false)]
        )
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
    func open(_ chip: String) -> GPIOError? {
        let button = GPIOButton(chip: chip, line: .offset(17), activeLow: true, bias: .pullUp)
        return #expect(throws: GPIOError.self) { try button.edges() }
    }

    @Test("a chip that does not exist is a clear startup error from the real library")
    func missingChipOnRealLibrary() throws {
        let error = open("/dev/gpiochip-porchlight-absent")
        #expect(error?.kind == .chipNotFound)
        #expect(
            error?.description == "cannot open GPIO chip /dev/gpiochip-porchlight-absent: No such file or directory")
    }

    @Test("a path that is not a GPIO chip is the same error from libgpiod 1 and 2")
    func notAChip() throws {
        for path in ["/dev/null", "/tmp"] {
            let error = open(path)
            #expect(error?.kind == .chipNotFound, "libgpiod \(GPIOChipInfo.libgpiodAPI)")
            #expect(
                error?.description == "cannot open GPIO chip \(path): No such device",
                "libgpiod \(GPIOChipInfo.libgpiodAPI)")
        }
    }

    @Test("a label that no chip has is a chip-not-found error naming it")
    func absentLabel() throws {
        let error = open("porchlight-absent-label")
        #expect(error?.kind == .chipNotFound)
        #expect(
            error?.description
                == "cannot find a GPIO chip labelled \"porchlight-absent-label\": No such file or directory")
    }

    @Test("the build speaks the libgpiod API of the headers it found")
    func apiVersion() {
        #expect([1, 2].contains(GPIOChipInfo.libgpiodAPI))
        if let expected = ProcessInfo.processInfo.environment["PORCHLIGHT_EXPECT_LIBGPIOD"] {
            #expect("\(GPIOChipInfo.libgpiodAPI)" == expected)
        }
    }
}
