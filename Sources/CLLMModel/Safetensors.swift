#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The safetensors format (huggingface/safetensors), F32 only: how cllm's weights reach PyTorch and back.
///
/// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON padded with spaces to a multiple
/// of 8, then the tensors' raw little-endian bytes back to back. Every reader trusts the header to slice
/// the data, so `decode` checks all of it before touching a byte and names the first thing wrong.
public enum Safetensors {
    /// Readers cap the header here (as the reference implementation does) so a corrupt length cannot
    /// make them allocate gigabytes.
    public static let maxHeaderLength = 100_000_000

    /// One named tensor with its values (row-major).
    public struct Tensor: Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]

        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// Where a decoded tensor's values sit inside `Contents.values`.
    public struct Entry: Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        /// Element indices (not bytes) into the flat values.
        public var range: Range<Int>
    }

    /// A decoded file. The data section is converted once into `values`; tensors are views into it, so a
    /// file whose tensors are already in the caller's order costs no second copy.
    public struct Contents: Sendable {
        /// Tensors in data order (ascending offsets).
        public var entries: [Entry]
        /// The whole data section as floats.
        public var values: [Float]
        public var metadata: [String: String]

        public var tensors: [Tensor] {
            entries.map { Tensor(name: $0.name, shape: $0.shape, values: Array(values[$0.range])) }
        }

        public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

        public func tensor(named name: String) -> Tensor? {
            entry(named: name).map { Tensor(name: $0.name, shape: $0.shape, values: Array(values[$0.range])) }
        }
    }

    // MARK: Encoding

    /// Encodes tensors in the given order, offsets contiguous from 0. Same input, same bytes.
    public static func encode(_ tensors: [Tensor], metadata: [String: String] = [:]) -> [UInt8] {
        for t in tensors {
            precondition(t.values.count == elementCount(t.shape), "tensor \(t.name): \(t.values.count) values for shape \(t.shape)")
        }
        var bytes = header(tensors.map { ($0.name, $0.shape) }, metadata: metadata)
        bytes.reserveCapacity(bytes.count + 4 * tensors.reduce(0) { $0 + $1.values.count })
        for t in tensors { appendLittleEndian(t.values, to: &bytes) }
        return bytes
    }

    /// Encodes one flat vector cut into consecutive tensors (a model's parameters, an optimizer moment).
    public static func encode(
        values: [Float], layout: [(name: String, shape: [Int])], metadata: [String: String] = [:]
    ) -> [UInt8] {
        values.withUnsafeBufferPointer { encode(segments: [$0], layout: layout, metadata: metadata) }
    }

    /// Encodes consecutive tensors whose values lie in `segments` back to back (e.g. AdamW's two moments),
    /// straight from the caller's buffers, so a checkpoint of a live model needs no intermediate copies.
    public static func encode(
        segments: [UnsafeBufferPointer<Float>], layout: [(name: String, shape: [Int])], metadata: [String: String] = [:]
    ) -> [UInt8] {
        let total = layout.reduce(0) { $0 + elementCount($1.shape) }
        let given = segments.reduce(0) { $0 + $1.count }
        precondition(total == given, "layout covers \(total) values but \(given) were given")
        var bytes = header(layout, metadata: metadata)
        bytes.reserveCapacity(bytes.count + 4 * given)
        for segment in segments { appendLittleEndian(segment, to: &bytes) }
        return bytes
    }

    private static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1) { precondition($1 >= 0, "negative dimension in \(shape)"); return $0 * $1 }
    }

    /// Length prefix plus compact JSON: `__metadata__` first (as the reference writer does), its keys
    /// sorted, then the tensors in the given order; padded with spaces to a multiple of 8 so the data
    /// section starts aligned.
    static func header(_ layout: [(name: String, shape: [Int])], metadata: [String: String]) -> [UInt8] {
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            for (i, key) in metadata.keys.sorted().enumerated() {
                if i > 0 { json += "," }
                appendJSONString(key, to: &json)
                json += ":"
                appendJSONString(metadata[key] ?? "", to: &json)
            }
            json += "}"
            first = false
        }
        var offset = 0
        var seen = Set<String>()
        for (name, shape) in layout {
            precondition(name != "__metadata__" && seen.insert(name).inserted, "duplicate or reserved tensor name \(name)")
            let end = offset + 4 * elementCount(shape)
            if !first { json += "," }
            first = false
            appendJSONString(name, to: &json)
            json += ":{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],"
            json += "\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        json += "}"
        var text = Array(json.utf8)
        while text.count % 8 != 0 { text.append(0x20) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + text.count)
        withUnsafeBytes(of: UInt64(text.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: text)
        return bytes
    }

    private static func appendJSONString(_ s: String, to json: inout String) {
        json += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                json += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: json.unicodeScalars.append(scalar)
            }
        }
        json += "\""
    }

    private static func appendLittleEndian(_ values: [Float], to bytes: inout [UInt8]) {
        values.withUnsafeBufferPointer { appendLittleEndian($0, to: &bytes) }
    }

    private static func appendLittleEndian(_ values: UnsafeBufferPointer<Float>, to bytes: inout [UInt8]) {
        #if _endian(little)
        bytes.append(contentsOf: UnsafeRawBufferPointer(values))
        #else
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        #endif
    }

    // MARK: Decoding

    /// Decodes and validates a whole file.
    public static func decode(_ bytes: [UInt8]) throws(SafetensorsError) -> Contents {
        guard bytes.count >= 8 else { throw .fileTooShort(byteCount: bytes.count) }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        if length > UInt64(maxHeaderLength) { throw .headerLengthTooLarge(headerLength: length) }
        let headerLength = Int(length)
        guard headerLength <= bytes.count - 8 else {
            throw .headerLengthExceedsFile(headerLength: length, fileSize: bytes.count)
        }
        let dataStart = 8 + headerLength
        let dataSize = bytes.count - dataStart
        let (entries, metadata) = try parseHeader(bytes[8..<dataStart])

        // Offsets must tile the data section exactly: sorted, no overlap, no hole, nothing left over.
        var byteRanges: [(entry: Entry, begin: Int, end: Int)] = entries.map { ($0.entry, $0.begin, $0.end) }
        byteRanges.sort { ($0.begin, $0.end, $0.entry.name) < ($1.begin, $1.end, $1.entry.name) }
        var position = 0
        var previous: String? = nil
        for r in byteRanges {
            if r.begin < position { throw .overlap(tensor: r.entry.name, other: previous ?? "") }
            if r.begin > position { throw .hole(before: r.entry.name, from: position, to: r.begin) }
            if r.end > dataSize { throw .outOfBounds(tensor: r.entry.name, end: r.end, dataSize: dataSize) }
            position = r.end
            previous = r.entry.name
        }
        if position != dataSize { throw .dataSizeMismatch(expected: position, actual: dataSize) }

        let count = dataSize / 4
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: raw[dataStart..<(dataStart + 4 * count)]))
            }
            #if _endian(big)
            for i in 0..<count { buffer[i] = Float(bitPattern: UInt32(littleEndian: buffer[i].bitPattern)) }
            #endif
            initialized = count
        }
        let ordered = byteRanges.map { r in
            Entry(name: r.entry.name, shape: r.entry.shape, range: (r.begin / 4)..<(r.end / 4))
        }
        return Contents(entries: ordered, values: values, metadata: metadata)
    }

    private static func parseHeader(
        _ header: ArraySlice<UInt8>
    ) throws(SafetensorsError) -> ([(entry: Entry, begin: Int, end: Int)], [String: String]) {
        guard String(validating: header, as: UTF8.self) != nil else {
            throw .malformedHeader("the header is not valid UTF-8")
        }
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: Data(header))
        } catch {
            throw .malformedHeader(JSONValue.describe(error))
        }
        guard case .object(let object) = root else { throw .malformedHeader("the header is not a JSON object") }

        var metadata: [String: String] = [:]
        var entries: [(entry: Entry, begin: Int, end: Int)] = []
        for name in object.keys.sorted() {
            guard let value = object[name] else { continue }
            if name == "__metadata__" {
                guard case .object(let fields) = value else { throw .invalidMetadata("__metadata__ is not an object") }
                for (key, field) in fields {
                    guard case .string(let s) = field else { throw .invalidMetadata("__metadata__ value \(key) is not a string") }
                    metadata[key] = s
                }
                continue
            }
            guard case .object(let fields) = value else {
                throw .invalidField(tensor: name, field: "entry", reason: "is not an object")
            }
            guard let dtypeValue = fields["dtype"] else { throw .missingField(tensor: name, field: "dtype") }
            guard let shapeValue = fields["shape"] else { throw .missingField(tensor: name, field: "shape") }
            guard let offsetsValue = fields["data_offsets"] else { throw .missingField(tensor: name, field: "data_offsets") }
            guard case .string(let dtype) = dtypeValue else {
                throw .invalidField(tensor: name, field: "dtype", reason: "is not a string")
            }
            if dtype != "F32" { throw .unsupportedDType(tensor: name, dtype: dtype) }
            guard case .array(let dims) = shapeValue else {
                throw .invalidField(tensor: name, field: "shape", reason: "is not an array of integers")
            }
            var shape: [Int] = []
            for d in dims {
                guard case .int(let n) = d else {
                    throw .invalidField(tensor: name, field: "shape", reason: "is not an array of integers")
                }
                shape.append(n)
            }
            if shape.contains(where: { $0 < 0 }) { throw .negativeDimension(tensor: name, shape: shape) }
            guard case .array(let offsets) = offsetsValue, offsets.count == 2,
                  case .int(let begin) = offsets[0], case .int(let end) = offsets[1], begin >= 0, end >= begin
            else {
                throw .invalidField(tensor: name, field: "data_offsets", reason: "is not a pair [begin, end] with 0 ≤ begin ≤ end")
            }
            // Hostile shapes must not trap: the byte size is computed with overflow checks.
            var byteCount = 4
            for d in shape {
                let (product, overflow) = byteCount.multipliedReportingOverflow(by: d)
                if overflow { throw .sizeMismatch(tensor: name, shape: shape, byteCount: end - begin) }
                byteCount = product
            }
            if byteCount != end - begin { throw .sizeMismatch(tensor: name, shape: shape, byteCount: end - begin) }
            entries.append((Entry(name: name, shape: shape, range: 0..<0), begin, end))
        }
        return (entries, metadata)
    }
}

public enum SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    case fileTooShort(byteCount: Int)
    case headerLengthTooLarge(headerLength: UInt64)
    case headerLengthExceedsFile(headerLength: UInt64, fileSize: Int)
    case malformedHeader(String)
    case invalidMetadata(String)
    case missingField(tensor: String, field: String)
    case invalidField(tensor: String, field: String, reason: String)
    case unsupportedDType(tensor: String, dtype: String)
    case negativeDimension(tensor: String, shape: [Int])
    /// `data_offsets` span a different number of bytes than shape × 4.
    case sizeMismatch(tensor: String, shape: [Int], byteCount: Int)
    case overlap(tensor: String, other: String)
    case hole(before: String, from: Int, to: Int)
    case outOfBounds(tensor: String, end: Int, dataSize: Int)
    /// The data section is longer than the tensors account for.
    case dataSizeMismatch(expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .fileTooShort(let n):
            "file is \(n) bytes, shorter than the 8-byte header length (truncated or not a safetensors file)"
        case .headerLengthTooLarge(let n):
            "header length \(n) exceeds the \(Safetensors.maxHeaderLength)-byte limit (corrupt or not a safetensors file)"
        case .headerLengthExceedsFile(let n, let size):
            "header length \(n) runs past the end of the \(size)-byte file (truncated file?)"
        case .malformedHeader(let reason): "malformed header JSON: \(reason)"
        case .invalidMetadata(let reason): "malformed header JSON: \(reason)"
        case .missingField(let tensor, let field): "tensor \(tensor) has no \(field) in the header"
        case .invalidField(let tensor, let field, let reason): "tensor \(tensor): \(field) \(reason)"
        case .unsupportedDType(let tensor, let dtype): "tensor \(tensor) has dtype \(dtype); cllm reads F32 only"
        case .negativeDimension(let tensor, let shape): "tensor \(tensor) has a negative dimension in shape \(shape)"
        case .sizeMismatch(let tensor, let shape, let bytes):
            "tensor \(tensor) has shape \(shape) but its data_offsets span \(bytes) bytes (F32 needs 4 per element)"
        case .overlap(let tensor, let other): "tensor \(tensor) overlaps tensor \(other) in the data section"
        case .hole(let tensor, let from, let to):
            "the data section has unused bytes \(from)..<\(to) before tensor \(tensor)"
        case .outOfBounds(let tensor, let end, let size):
            "tensor \(tensor) ends at byte \(end) but the data section holds only \(size) bytes (truncated file?)"
        case .dataSizeMismatch(let expected, let actual):
            "the data section is \(actual) bytes but the tensors account for \(expected)"
        }
    }
}

/// Any JSON value: safetensors headers are keyed by arbitrary tensor names, which a fixed `Decodable`
/// struct cannot describe, and validation wants to say precisely which field is wrong.
enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: Key.self) {
            var object: [String: JSONValue] = [:]
            for key in keyed.allKeys { object[key.stringValue] = try keyed.decode(JSONValue.self, forKey: key) }
            self = .object(object)
        } else if var unkeyed = try? decoder.unkeyedContainer() {
            var array: [JSONValue] = []
            while !unkeyed.isAtEnd { array.append(try unkeyed.decode(JSONValue.self)) }
            self = .array(array)
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                self = .null
            } else if let b = try? single.decode(Bool.self) {
                self = .bool(b)
            } else if let i = try? single.decode(Int.self) {
                self = .int(i)
            } else if let d = try? single.decode(Double.self) {
                self = .double(d)
            } else {
                self = .string(try single.decode(String.self))
            }
        }
    }

    /// A one-line reason for a JSON decoding failure, without Swift's coding-path noise.
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            if let underlying = context.underlyingError { return "\(context.debugDescription) (\(underlying))" }
            return context.debugDescription
        case DecodingError.keyNotFound(let key, _): return "missing key \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default: return "\(error)"
        }
    }
}
