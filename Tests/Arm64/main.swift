// The entry point of the arm64 kernel test (Tests/Arm64/run): Swift Testing's own runner, as
// `swift test` uses it, over the tests compiled into this executable.
import Testing

await Testing.__swiftPMEntryPoint() as Never
