import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A task executor with one thread of its own. Heavy work that runs in a task (the camera
/// pipeline's masking, encoding and motion analysis) runs here instead of on Swift's cooperative
/// pool, whose few threads (one on a one-core board) must stay free for what has to happen at
/// once: the button, the chime, the watchdog, the control channel. Under a CPU that cannot keep
/// up, the kernel then shares the CPU between this thread and the pool, instead of the pool's
/// jobs queueing behind frame after frame.
public final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` and `thread` are touched only under `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var thread: pthread_t?

    /// Starts the thread; it lives as long as the process (make one per kind of work, not per use).
    public init(name: String) {
        // The thread keeps the executor: both live as long as the process.
        let thread = Thread { self.run() }
        thread.name = name
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Whether the calling code runs on this executor's thread (for preconditions and tests).
    public var isCurrent: Bool {
        condition.lock()
        defer { condition.unlock() }
        return thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false
    }

    private func run() {
        condition.lock()
        thread = pthread_self()
        condition.unlock()
        let executor = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: executor)
        }
    }
}
