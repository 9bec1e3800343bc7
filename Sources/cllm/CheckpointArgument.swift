import CLLMModel

/// Resolves what a user typed for a checkpoint: a checkpoint folder itself, or a run folder (its newest
/// good checkpoint is used).
enum CheckpointArgument {
    static func load(_ path: String, requireOptimizer: Bool = false) throws -> (path: String, checkpoint: Checkpoint) {
        let direct = Checkpoint.candidates(in: path).isEmpty
        if direct {
            do {
                return (path, try Checkpoint.read(from: path, requireOptimizer: requireOptimizer))
            } catch {
                throw CLIError("\(error)")
            }
        }
        var firstError: String? = nil
        for c in Checkpoint.candidates(in: path) {
            do {
                return (c.path, try Checkpoint.read(from: c.path, requireOptimizer: requireOptimizer))
            } catch {
                firstError = firstError ?? "\(error)"
            }
        }
        throw CLIError("no readable checkpoint in run folder \(path): \(firstError ?? "none found")")
    }
}
