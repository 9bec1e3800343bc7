import Testing
@testable import CLLMModel

@Suite struct SafetensorsTests {
    /// A raw file from a header text and data bytes, for feeding the decoder hostile input.
    func file(header: String, data: [UInt8] = []) -> [UInt8] {
        let json = Array(header.utf8)
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        return bytes + json + data
    }

    func decodeError(_ bytes: [UInt8]) -> SafetensorsError? {
        do {
            _ = try Safetensors.decode(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func roundTripKeepsNamesShapesBitsAndMetadata() throws {
        let special: [Float] = [-0.0, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
                                Float(bitPattern: 0x7FC0_1234), 1.5, -3.25]
        let tensors = [
            Safetensors.Tensor(name: "transformer.wte.weight", shape: [2, 4], values: special),
            Safetensors.Tensor(name: "scalar", shape: [], values: [42]),
            Safetensors.Tensor(name: "empty", shape: [0, 3], values: []),
            Safetensors.Tensor(name: "naïve \"quoted\"\n", shape: [3], values: [1, 2, 3]),
        ]
        let metadata = ["format": "pt", "note": "tab\there"]
        let bytes = Safetensors.encode(tensors, metadata: metadata)
        let decoded = try Safetensors.decode(bytes)
        #expect(decoded.metadata == metadata)
        #expect(decoded.entries.map(\.name) == tensors.map(\.name))
        for t in tensors {
            let back = try #require(decoded.tensor(named: t.name))
            #expect(back.shape == t.shape)
            #expect(firstBitDifference(back.values, t.values) == nil)
        }
    }

    @Test func headerIsPaddedAndOffsetsAreContiguous() throws {
        let tensors = (1...5).map { i in
            Safetensors.Tensor(name: "t\(i)", shape: [i, 2], values: (0..<(2 * i)).map { Float($0) })
        }
        let bytes = Safetensors.encode(tensors, metadata: ["format": "pt"])
        let length = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        #expect(length % 8 == 0)
        #expect(bytes[8 + Int(length) - 1] == 0x20 || bytes[8 + Int(length) - 1] == UInt8(ascii: "}"))
        let decoded = try Safetensors.decode(bytes)
        var position = 0
        for entry in decoded.entries {
            #expect(entry.range.lowerBound == position)
            position = entry.range.upperBound
        }
        #expect(position == decoded.values.count)
        #expect(bytes.count == 8 + Int(length) + 4 * position)
    }

    /// Pins the format: these are exactly the bytes `safetensors.torch.save({"a": tensor([1., -2.])},
    /// metadata={"format": "pt"})` produces (checked against safetensors 0.8.0).
    @Test func encodingOfTinyInputIsPinned() {
        let bytes = Safetensors.encode([.init(name: "a", shape: [2], values: [1, -2])], metadata: ["format": "pt"])
        let json = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let expected: [UInt8] = [0x58, 0, 0, 0, 0, 0, 0, 0] + Array(json.utf8) + [0x20, 0x20, 0x20]
            + [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]
        #expect(bytes == expected)
    }

    @Test func encodingIsDeterministic() {
        var a: [String: String] = [:]
        var b: [String: String] = [:]
        for i in 0..<20 { a["key\(i)"] = "v\(i)" }
        for i in (0..<20).reversed() { b["key\(i)"] = "v\(i)" }
        let tensors = [Safetensors.Tensor(name: "x", shape: [2, 2], values: [1, 2, 3, 4])]
        #expect(Safetensors.encode(tensors, metadata: a) == Safetensors.encode(tensors, metadata: b))
    }

    @Test func flatEncodingMatchesPerTensorEncoding() {
        let values: [Float] = (0..<10).map { Float($0) * 0.5 }
        let flat = Safetensors.encode(values: values, layout: [("a", [2, 3]), ("b", [4])], metadata: ["format": "pt"])
        let split = Safetensors.encode(
            [.init(name: "a", shape: [2, 3], values: Array(values[0..<6])), .init(name: "b", shape: [4], values: Array(values[6...]))],
            metadata: ["format": "pt"])
        #expect(flat == split)
    }

    @Test func emptyFileDecodes() throws {
        let decoded = try Safetensors.decode(Safetensors.encode([]))
        #expect(decoded.entries.isEmpty && decoded.values.isEmpty && decoded.metadata.isEmpty)
    }

    // MARK: Decode failures

    @Test func fileShorterThanEightBytes() {
        #expect(decodeError([1, 2, 3]) == .fileTooShort(byteCount: 3))
        #expect(decodeError([]) == .fileTooShort(byteCount: 0))
    }

    @Test func headerLengthOverLimit() {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(100_000_001).littleEndian) { bytes.append(contentsOf: $0) }
        #expect(decodeError(bytes + [0x7B, 0x7D]) == .headerLengthTooLarge(headerLength: 100_000_001))
        let huge: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        #expect(decodeError(huge) == .headerLengthTooLarge(headerLength: .max))
    }

    @Test func headerLengthPastEndOfFile() {
        var bytes = file(header: "{}")
        bytes[0] = 100
        #expect(decodeError(bytes) == .headerLengthExceedsFile(headerLength: 100, fileSize: 10))
    }

    @Test func malformedHeaderJSON() throws {
        for header in ["{not json", "[1, 2]", "42", ""] {
            let error = try #require(decodeError(file(header: header)))
            guard case .malformedHeader = error else {
                Issue.record("header \(header): expected malformedHeader, got \(error)")
                continue
            }
            #expect(error.description.hasPrefix("malformed header JSON"))
        }
        var invalidUTF8 = file(header: "{\"a\":1}")
        invalidUTF8[10] = 0xFF
        #expect(decodeError(invalidUTF8) == .malformedHeader("the header is not valid UTF-8"))
    }

    @Test func malformedMetadata() throws {
        let error = decodeError(file(header: #"{"__metadata__":{"format":1}}"#))
        #expect(error == .invalidMetadata("__metadata__ value format is not a string"))
        #expect(error?.description.hasPrefix("malformed header JSON") == true)
    }

    @Test func missingFields() {
        #expect(decodeError(file(header: #"{"x":{"shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            == .missingField(tensor: "x", field: "dtype"))
        #expect(decodeError(file(header: #"{"x":{"dtype":"F32","data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            == .missingField(tensor: "x", field: "shape"))
        #expect(decodeError(file(header: #"{"x":{"dtype":"F32","shape":[1]}}"#, data: [0, 0, 0, 0]))
            == .missingField(tensor: "x", field: "data_offsets"))
    }

    @Test func invalidFields() throws {
        let notObject = try #require(decodeError(file(header: #"{"x":[1]}"#)))
        #expect(notObject == .invalidField(tensor: "x", field: "entry", reason: "is not an object"))
        let fractional = try #require(decodeError(file(header: #"{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#)))
        #expect(fractional == .invalidField(tensor: "x", field: "shape", reason: "is not an array of integers"))
        let enormous = try #require(decodeError(file(header: #"{"x":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}"#)))
        #expect(enormous == .invalidField(tensor: "x", field: "shape", reason: "is not an array of integers"))
        let backwards = try #require(decodeError(file(header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#)))
        guard case .invalidField(tensor: "x", field: "data_offsets", reason: _) = backwards else {
            Issue.record("expected invalid data_offsets, got \(backwards)")
            return
        }
    }

    @Test func wrongDtypeIsNamed() throws {
        let error = try #require(decodeError(file(header: #"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])))
        #expect(error == .unsupportedDType(tensor: "x", dtype: "F16"))
        #expect(error.description == "tensor x has dtype F16; cllm reads F32 only")
    }

    @Test func negativeDimension() {
        #expect(decodeError(file(header: #"{"x":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)))
            == .negativeDimension(tensor: "x", shape: [-1, 2]))
    }

    @Test func offsetsNotMatchingShape() {
        #expect(decodeError(file(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            == .sizeMismatch(tensor: "x", shape: [2], byteCount: 4))
    }

    @Test func overflowingShapeDoesNotTrap() {
        let header = #"{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#
        #expect(decodeError(file(header: header, data: [UInt8](repeating: 0, count: 8)))
            == .sizeMismatch(tensor: "x", shape: [4_611_686_018_427_387_904, 4], byteCount: 8))
    }

    @Test func overlappingTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        #expect(decodeError(file(header: header, data: [UInt8](repeating: 0, count: 12))) == .overlap(tensor: "b", other: "a"))
    }

    @Test func holesBetweenAndBeforeTensors() {
        let between = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#
        #expect(decodeError(file(header: between, data: [UInt8](repeating: 0, count: 20))) == .hole(before: "b", from: 8, to: 12))
        let before = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        #expect(decodeError(file(header: before, data: [UInt8](repeating: 0, count: 12))) == .hole(before: "a", from: 0, to: 4))
    }

    @Test func tensorPastEndOfData() throws {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        let error = try #require(decodeError(file(header: header, data: [UInt8](repeating: 0, count: 8))))
        #expect(error == .outOfBounds(tensor: "a", end: 16, dataSize: 8))
        #expect(error.description.contains("truncated"))
    }

    @Test func dataLongerThanTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(decodeError(file(header: header, data: [UInt8](repeating: 0, count: 12))) == .dataSizeMismatch(expected: 8, actual: 12))
    }

    @Test func truncatedRealFileFails() throws {
        let bytes = Safetensors.encode([.init(name: "a", shape: [3], values: [1, 2, 3])], metadata: ["format": "pt"])
        #expect(throws: SafetensorsError.outOfBounds(tensor: "a", end: 12, dataSize: 11)) {
            try Safetensors.decode(Array(bytes.dropLast()))
        }
        let error = try #require(decodeError(Array(bytes.prefix(40))))
        guard case .headerLengthExceedsFile = error else {
            Issue.record("expected headerLengthExceedsFile, got \(error)")
            return
        }
    }
}
