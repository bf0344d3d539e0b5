import ArgumentParser
import Config
import Foundation
import JPEG
import Media
import Motion

struct MotionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "motion", abstract: "Work with motion detection.", subcommands: [Analyze.self])
}

/// Runs the daemon's motion path on an MJPEG file as fast as possible, for tuning and tests.
struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run motion detection on an MJPEG file; print `event START END` per event.")

    @Argument(help: "An MJPEG file: concatenated JPEGs.")
    var file: String
    @Option(help: "A configuration file for [motion], privacy.masks and camera.fps; built-in defaults without it.")
    var config: String?
    @Option(help: "The file's frame rate; default camera.fps.")
    var fps: Int?
    @Option(help: "Write frame,motion,changed_fraction,boxes per frame to this CSV file.")
    var csv: String?
    @Option(help: "Write each analysed motion plane, with its boxes, as a PGM image into this folder.")
    var debugDir: String?

    func run() throws {
        var settings = Config()
        if let config {
            do {
                settings = try ConfigLoader.load(path: config)
            } catch {
                printError(error.description)
                throw ExitCode(78)
            }
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            printError("porchlightctl: cannot read \(file)")
            throw ExitCode(66)
        }
        let bytes = [UInt8](data)
        let frames = MJPEGSplitter.frames(in: bytes)
        guard let first = frames.first else {
            printError("porchlightctl: no JPEG frames in \(file)")
            throw ExitCode(65)
        }
        if let debugDir {
            try FileManager.default.createDirectory(atPath: debugDir, withIntermediateDirectories: true)
        }
        let debugImage: ((Int, GreyPlane) -> Void)? = debugDir.map { folder in
            { index, plane in
                let name = String(format: "%@/frame-%05d.pgm", folder, index)
                if !FileManager.default.createFile(atPath: name, contents: Data(MotionAnalysis.pgm(plane))) {
                    printError("porchlightctl: cannot write \(name)")
                }
            }
        }
        let result = try MotionAnalysis.run(
            frames: frames.map { Array(bytes[$0]) }, config: settings.motion, privacy: settings.privacy,
            fps: fps ?? settings.camera.fps,
            firstFrame: Array(bytes[first]), debugImage: debugImage)
        if let csv {
            var text = "frame,motion,changed_fraction,boxes\n"
            for row in result.rows {
                text +=
                    "\(row.frame),\(row.active ? 1 : 0),\(String(format: "%.5f", row.changedFraction)),\(row.boxes)\n"
            }
            try text.write(toFile: csv, atomically: true, encoding: .utf8)
        }
        for event in result.events { print("event \(event.start) \(event.end)") }
    }
}
