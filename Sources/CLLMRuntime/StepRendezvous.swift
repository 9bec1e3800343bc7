import Synchronization

/// Where the spheres of one step meet between two of its phases without a trip through Node Zero.
///
/// Each sphere parks its continuation in its own slot and counts itself in with one atomic add; the last to
/// arrive runs the boundary's serial work (`last`) and resumes the others. No lock and no spinning: a sphere
/// that arrives early is suspended and its thread is free, and the last one goes on without a hand-off at
/// all. Through Node Zero the same boundary costs two: every sphere's result to Node Zero's thread, then the
/// next phase's jobs back to the spheres' threads.
///
/// One-shot: a step makes a fresh one for each boundary it crosses this way.
final class StepRendezvous: @unchecked Sendable {
    let participants: Int
    private let arrivals = Atomic<Int>(0)
    /// Set by the last arrival after `last` ran: the acquiring load of a resumed participant pairs with it,
    /// so what `last` wrote is visible whatever the executor's queue guarantees.
    private let opened = Atomic<Bool>(false)
    private let parked: UnsafeMutablePointer<UnsafeContinuation<Void, Never>?>

    init(participants: Int) {
        precondition(participants > 0, "a rendezvous needs a participant")
        self.participants = participants
        parked = .allocate(capacity: participants)
        parked.initialize(repeating: nil, count: participants)
    }

    deinit {
        parked.deinitialize(count: participants)
        parked.deallocate()
    }

    /// Suspends participant `slot` (each of 0..<participants exactly once) until all have arrived; `last` runs
    /// once, on the last arrival's thread, before anyone continues.
    func arrive(_ slot: Int, isolation: isolated (any Actor)? = #isolation, last: () -> Void) async {
        precondition(slot >= 0 && slot < participants, "rendezvous slot \(slot) of \(participants)")
        await withUnsafeContinuation(isolation: isolation) { (continuation: UnsafeContinuation<Void, Never>) in
            parked[slot] = continuation
            // Releasing publishes this slot (and what the participant wrote before arriving); the last add
            // acquires every earlier one, so it sees all the slots.
            if arrivals.add(1, ordering: .acquiringAndReleasing).newValue == participants {
                last()
                opened.store(true, ordering: .releasing)
                for i in 0..<participants { parked[i]!.resume() }
            }
        }
        precondition(opened.load(ordering: .acquiring), "resumed before the rendezvous opened")
    }
}
