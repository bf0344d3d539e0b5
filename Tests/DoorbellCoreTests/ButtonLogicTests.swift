import DoorbellCore
import Testing

/// Drives ButtonLogic with scripted edges at explicit kernel times: the manual clock.
struct ButtonScript {
    var logic = ButtonLogic(
        settings: .init(debounce: .milliseconds(30), longPress: .milliseconds(2000), ringWindow: .seconds(10)))
    var outputs: [ButtonOutput] = []

    mutating func press(at ms: Int) { outputs += logic.handle(ButtonEdge(.pressed, at: .milliseconds(ms))) }
    mutating func release(at ms: Int) { outputs += logic.handle(ButtonEdge(.released, at: .milliseconds(ms))) }
    mutating func advance(to ms: Int) { outputs += logic.advance(to: .milliseconds(ms)) }

    var rings: [ButtonOutput] { outputs.filter { if case .ring = $0 { true } else { false } } }
    var decisions: [ButtonOutput] {
        outputs.filter {
            switch $0 {
            case .pressed, .released: false
            default: true
            }
        }
    }
}

@Suite("Button logic on kernel timestamps", .timeLimit(.minutes(10)))
struct ButtonLogicTests {
    @Test("a clean press rings once at its first edge and is released after the debounce time")
    func cleanPress() {
        var script = ButtonScript()
        script.press(at: 1000)
        #expect(script.outputs == [.pressed(at: .milliseconds(1000)), .ring(at: .milliseconds(1000))])
        script.release(at: 1150)
        #expect(script.logic.nextDeadline == .milliseconds(1180))
        script.advance(to: 1180)
        #expect(script.outputs.last == .released(at: .milliseconds(1150), heldFor: .milliseconds(150)))
        script.advance(to: 60_000)
        #expect(script.decisions == [.ring(at: .milliseconds(1000))])
        #expect(script.logic.nextDeadline == nil)
    }

    @Test("a burst of bounces is one press")
    func bounceBurst() {
        var script = ButtonScript()
        script.press(at: 1000)
        script.release(at: 1002)
        script.press(at: 1004)
        script.release(at: 1007)
        script.press(at: 1009)
        script.release(at: 1150)
        script.press(at: 1153)  // release bounce
        script.release(at: 1155)
        script.advance(to: 1300)
        #expect(script.decisions == [.ring(at: .milliseconds(1000))])
        #expect(script.outputs.filter { if case .pressed = $0 { true } else { false } }.count == 1)
        #expect(script.outputs.last == .released(at: .milliseconds(1155), heldFor: .milliseconds(155)))
        #expect(!script.logic.isPressed)
    }

    @Test("two presses 40 ms apart are debounced into one")
    func pressesFortyMillisecondsApart() {
        var script = ButtonScript()
        script.press(at: 1000)
        script.release(at: 1020)
        script.press(at: 1040)
        script.release(at: 1120)
        script.advance(to: 1500)
        #expect(script.decisions == [.ring(at: .milliseconds(1000))])
    }

    @Test("two presses 400 ms apart are two presses and one ring with a press count of 2")
    func pressesFourHundredMillisecondsApart() {
        var script = ButtonScript()
        script.press(at: 1000)
        script.release(at: 1100)
        script.press(at: 1400)
        script.release(at: 1500)
        script.advance(to: 2000)
        #expect(
            script.decisions == [.ring(at: .milliseconds(1000)), .repeatPress(at: .milliseconds(1400), pressCount: 2)])
    }

    @Test("a press after the rate-limit window rings again")
    func windowExpires() {
        var script = ButtonScript()
        script.press(at: 1000)
        script.release(at: 1100)
        script.press(at: 11_000)
        script.release(at: 11_100)
        script.advance(to: 12_000)
        #expect(script.decisions == [.ring(at: .milliseconds(1000)), .ring(at: .milliseconds(11_000))])
    }

    @Test("a press held past the long-press time is reported once, while still held")
    func longPress() {
        var script = ButtonScript()
        script.press(at: 1000)
        #expect(script.logic.nextDeadline == .milliseconds(3000))
        script.advance(to: 2999)
        #expect(script.decisions == [.ring(at: .milliseconds(1000))])
        script.advance(to: 3000)
        #expect(script.decisions.last == .longPress(at: .milliseconds(3000)))
        script.advance(to: 9000)
        script.release(at: 9000)
        script.advance(to: 9100)
        #expect(script.decisions == [.ring(at: .milliseconds(1000)), .longPress(at: .milliseconds(3000))])
        #expect(script.outputs.last == .released(at: .milliseconds(9000), heldFor: .milliseconds(8000)))
    }

    @Test("a release just before the long-press time is not a long press, even before it settles")
    func releaseJustBeforeLongPress() {
        var script = ButtonScript()
        script.press(at: 1000)
        script.release(at: 2990)
        script.advance(to: 3000)  // the release is not yet stable here
        script.advance(to: 3100)
        #expect(script.decisions == [.ring(at: .milliseconds(1000))])
    }

    @Test("a short tap whose release comes within the debounce time still ends the press")
    func shortTap() {
        var script = ButtonScript()
        script.press(at: 1000)
        script.release(at: 1010)
        script.advance(to: 1040)
        #expect(!script.logic.isPressed)
        script.advance(to: 5000)
        #expect(script.decisions == [.ring(at: .milliseconds(1000))])
    }
}
