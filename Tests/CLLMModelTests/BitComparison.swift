/// Where two float arrays first differ in their bits: the index of the first differing element, the shorter
/// count when only the lengths differ, nil when they are identical.
///
/// Tests compare large arrays through this instead of `#expect(a == b)`: Swift Testing describes a failed
/// `==` of two arrays by diffing them, which takes many minutes for the hundreds of thousands of elements of
/// a step's activations, so a broken kernel would stall the suite instead of failing it.
func firstBitDifference(_ a: [Float], _ b: [Float]) -> Int? {
    let n = min(a.count, b.count)
    if let i = (0..<n).first(where: { a[$0].bitPattern != b[$0].bitPattern }) { return i }
    return a.count == b.count ? nil : n
}
