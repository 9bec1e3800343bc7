// swift-tools-version:6.1
import PackageDescription

/// Kernels are compiled for AVX2+FMA on x86_64 (Haswell and later, AMD Zen); the tool checks the CPU at
/// start-up and refuses with a clear message where these instructions are missing (Docs/performance.md).
/// CLLMKernelsAVX512 holds the same GEMM specialized for AVX-512; it runs only where the CPU has it. Its CPU is
/// skylake-avx512 (the x86-64-v4 set: F, CD, BW, DQ, VL, which every AVX-512 Intel and AMD Zen 4/5 has), named so
/// because Swift 6.3.1's clang importer does not accept "x86-64-v4". Both are optimized (-O) in debug builds too:
/// the tests train models, and unoptimized generic SIMD code made the whole test run 6× slower (196 s against 31 s).
/// `-fno-math-errno` lets a vector's square root be one instruction: Swift's `squareRoot()` goes through a C shim,
/// and with C's errno rule (glibc's default) each lane became a scalar root with a branch to libm's `sqrtf`, which
/// made AdamW 6× slower (1.8 against 0.3 ms a step). The IEEE square root is correctly rounded: same bits.
#if arch(x86_64)
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell", "-enforce-exclusivity=unchecked", "-O", "-Xcc", "-fno-math-errno"])]
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512", "-enforce-exclusivity=unchecked", "-O", "-Xcc", "-fno-math-errno"])]
#else
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked", "-O", "-Xcc", "-fno-math-errno"])]
let avx512Flags = kernelFlags
#endif

/// `CLLM_SANITIZE=1 swift test --sanitize=thread …` builds without jemalloc: a sanitizer must own malloc,
/// and two allocators in one process make TSan abort on frees it did not allocate. Arenas then fall back to
/// the sanitizer's heap and report no per-arena statistics.
let sanitizing = Context.environment["CLLM_SANITIZE"] != nil
let runtimeDependencies: [Target.Dependency] =
    ["CLLMModel", "CLLMKernels", "CLLMSystem"] + (sanitizing ? [] : ["CJemalloc"])
let runtimeSettings: [SwiftSetting] = sanitizing ? [.define("CLLM_NO_JEMALLOC")] : []

let package = Package(
    name: "cllm",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cllm", targets: ["cllm"]),
        .library(name: "CLLMModel", targets: ["CLLMModel"]),
        .library(name: "CLLMRuntime", targets: ["CLLMRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CJemalloc", path: "Sources/CJemalloc", pkgConfig: "jemalloc",
            providers: [.apt(["libjemalloc-dev"])]),
        .target(name: "CLLMSystem"),
        .target(name: "CLLMCacheHints"),
        .target(name: "CLLMKernels", dependencies: ["CLLMCacheHints"], swiftSettings: kernelFlags),
        .target(name: "CLLMKernelsAVX512", dependencies: ["CLLMKernels"], swiftSettings: avx512Flags),
        .target(name: "CLLMModel", dependencies: ["CLLMKernels", "CLLMKernelsAVX512"]),
        .target(name: "CLLMRuntime", dependencies: runtimeDependencies, swiftSettings: runtimeSettings),
        .target(name: "CLLMSimulation", dependencies: ["CLLMRuntime", "CLLMModel", "CLLMKernels"]),
        .executableTarget(
            name: "cllm",
            dependencies: [
                "CLLMModel", "CLLMRuntime", "CLLMSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "CLLMModelTests", dependencies: ["CLLMModel", "CLLMKernels", "CLLMKernelsAVX512"]),
        .testTarget(
            name: "CLLMRuntimeTests",
            dependencies: ["CLLMRuntime", "CLLMModel", "CLLMKernels", "CLLMSystem", "CLLMSimulation"]),
        // "cllm" makes `swift test` build the binary these tests run.
        .testTarget(name: "CLLMSimulationTests", dependencies: ["CLLMSimulation", "CLLMRuntime", "CLLMModel"]),
        .testTarget(name: "CLLMEndToEndTests", dependencies: ["CLLMModel", "cllm"]),
    ],
    swiftLanguageModes: [.v6]
)
