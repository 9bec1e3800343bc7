/// The kissing-sphere hierarchy: a 12-ary tree of positions, levels of 1, 12, 144, 1728, … (the original
/// system's `calculate_hierarchy_levels`). Position 0 is the root; a sphere's symmetry group is its index
/// mod 12.
///
/// `active` creates exactly the requested spheres. `full` reproduces the original allocation: every
/// position of the levels needed to hold the requested number (157 positions for 63 spheres), the ones
/// past the requested count idle. Idle positions exist as records only: no thread, no buffers, no work.
public struct SphereHierarchy: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable, Codable {
        case active, full
    }

    public static let branching = 12
    public static let symmetryGroups = 12

    public let mode: Mode
    /// Spheres that compute (the data-parallel replicas).
    public let activeCount: Int
    /// Levels of the tree needed to hold `activeCount` positions.
    public let levels: Int
    /// Positions allocated: `activeCount` in `.active` mode, all positions of `levels` levels in `.full`.
    public let positionCount: Int

    /// Largest sphere count cllm accepts: the first five levels (1+12+144+1728+20736).
    public static let maximumSpheres = 22_621

    public init(spheres: Int, mode: Mode) throws(RuntimeError) {
        guard spheres > 0 else { throw .invalidOption("--spheres must be at least 1, got \(spheres)") }
        guard spheres <= SphereHierarchy.maximumSpheres else {
            throw .invalidOption("--spheres \(spheres) exceeds the hierarchy's \(SphereHierarchy.maximumSpheres) positions (5 levels)")
        }
        self.mode = mode
        activeCount = spheres
        levels = SphereHierarchy.levels(toHold: spheres)
        positionCount = mode == .full ? SphereHierarchy.positions(levels: levels) : spheres
    }

    /// Levels needed for n positions: ≤1 → 1, ≤13 → 2, ≤157 → 3, ≤1885 → 4, …
    public static func levels(toHold n: Int) -> Int {
        var levels = 1, capacity = 1, width = 1
        while capacity < n {
            width *= branching
            capacity += width
            levels += 1
        }
        return levels
    }

    /// Positions in the first `levels` levels: 1, 13, 157, 1885, …
    public static func positions(levels: Int) -> Int {
        var total = 0, width = 1
        for _ in 0..<levels {
            total += width
            width *= branching
        }
        return total
    }

    /// Level of a position (0 for the root).
    public static func level(of position: Int) -> Int {
        var level = 0, end = 1, width = 1
        while position >= end {
            width *= branching
            end += width
            level += 1
        }
        return level
    }

    /// Parent position in the tree (nil for the root).
    public static func parent(of position: Int) -> Int? {
        position == 0 ? nil : (position - 1) / branching
    }

    /// Symmetry group of a sphere: index mod 12.
    public static func group(of position: Int) -> Int { position % symmetryGroups }

    /// Positions that exist but never compute.
    public var idleCount: Int { positionCount - activeCount }
}
