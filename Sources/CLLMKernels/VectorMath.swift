/// 8-wide float helpers shared by the kernels: unaligned loads and stores, and vectorised exp and tanh.
///
/// The transcendental functions are polynomial or rational so they run eight lanes at a time; libm's
/// scalar `expf`/`tanhf` would cost more than all the GEMMs of a GELU layer.
public typealias Vec8 = SIMD8<Float>

@inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> Vec8 { UnsafeRawPointer(p).loadUnaligned(as: Vec8.self) }

@inline(__always)
public func load8(_ p: UnsafeMutablePointer<Float>) -> Vec8 { UnsafeRawPointer(p).loadUnaligned(as: Vec8.self) }

@inline(__always)
public func store8(_ v: Vec8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec8.self)
}

/// e^x for eight lanes; relative error about 2 ulp over the float range, saturating outside ±88.
@inline(__always)
public func exp8(_ xIn: Vec8) -> Vec8 {
    let lo = Vec8(repeating: -87.3), hi = Vec8(repeating: 88.3)
    var x = xIn.replacing(with: lo, where: xIn .< lo)
    x = x.replacing(with: hi, where: x .> hi)
    let fx = (x * 1.442_695_04).rounded(.toNearestOrEven)
    x = x.addingProduct(fx, Vec8(repeating: -0.693_359_375))
    x = x.addingProduct(fx, Vec8(repeating: 2.121_944_4e-4))
    // Horner's rule in multiply-adds: each step is one instruction and one rounding, and the chain of
    // dependent steps (the function's latency, which softmax rows wait on) is a third shorter.
    var y = Vec8(repeating: 1.987_569_15e-4)
    y = Vec8(repeating: 1.398_199_95e-3).addingProduct(y, x)
    y = Vec8(repeating: 8.333_451_9e-3).addingProduct(y, x)
    y = Vec8(repeating: 4.166_579_59e-2).addingProduct(y, x)
    y = Vec8(repeating: 1.666_666_55e-1).addingProduct(y, x)
    y = Vec8(repeating: 5.000_000_12e-1).addingProduct(y, x)
    y = x.addingProduct(y, x * x) + 1
    // 2^n without an int conversion: adding 1.5·2^23 + 127 leaves n + 127 in the low mantissa bits, and a
    // shift by 23 moves exactly those into the exponent field (the rest shifts out of the word).
    let biased = unsafeBitCast(fx + 12_583_039, to: SIMD8<UInt32>.self)
    let scale = unsafeBitCast(biased &<< 23, to: Vec8.self)
    return y * scale
}

/// tanh for eight lanes: a 13/6 odd rational minimax fit (the form Eigen uses), with inputs clamped to
/// ±7.998811…, where the fit is exactly ±1, so it saturates as tanh does in float. Absolute error below
/// 3e-7; one division and ten FMAs, about half the cost of going through `exp8`, which matters because
/// GELU evaluates it for every hidden unit.
@inline(__always)
public func tanh8(_ xIn: Vec8) -> Vec8 {
    let lim = Vec8(repeating: 7.998_811_721_801_758)
    var x = xIn.replacing(with: lim, where: xIn .> lim)
    x = x.replacing(with: -lim, where: x .< -lim)
    let x2 = x * x
    var p = Vec8(repeating: -2.760_768_477_423_55e-16)
    p = Vec8(repeating: 2.000_187_904_824_77e-13).addingProduct(p, x2)
    p = Vec8(repeating: -8.604_671_522_137_35e-11).addingProduct(p, x2)
    p = Vec8(repeating: 5.122_297_090_371_14e-08).addingProduct(p, x2)
    p = Vec8(repeating: 1.485_722_357_179_79e-05).addingProduct(p, x2)
    p = Vec8(repeating: 6.372_619_288_754_36e-04).addingProduct(p, x2)
    p = Vec8(repeating: 4.893_524_558_917_86e-03).addingProduct(p, x2)
    var q = Vec8(repeating: 1.198_258_394_667_02e-06)
    q = Vec8(repeating: 1.185_347_056_866_54e-04).addingProduct(q, x2)
    q = Vec8(repeating: 2.268_434_632_439_00e-03).addingProduct(q, x2)
    q = Vec8(repeating: 4.893_525_185_543_85e-03).addingProduct(q, x2)
    return (x * p) / q
}

/// Lane-wise maximum (the standard library's `pointwiseMax` is not inlined for SIMD8 here).
@inline(__always)
public func max8(_ a: Vec8, _ b: Vec8) -> Vec8 { a.replacing(with: b, where: b .> a) }

/// Sum of the eight lanes.
@inline(__always)
public func sum8(_ v: Vec8) -> Float { v.sum() }

/// Scalar e^x through the same polynomial, so masked tails agree with vector lanes.
@inline(__always)
public func exp1(_ x: Float) -> Float { exp8(Vec8(repeating: x))[0] }

/// Scalar tanh through the same polynomial.
@inline(__always)
public func tanh1(_ x: Float) -> Float { tanh8(Vec8(repeating: x))[0] }
