/// Bumped by the release script; shown by --version and in the startup log.
public let porchlightVersion = "0.1.0"
