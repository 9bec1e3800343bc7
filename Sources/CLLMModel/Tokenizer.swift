/// Turns text into token ids and back. Travels inside every checkpoint, so a model is never paired with
/// the wrong vocabulary.
///
/// - `char`: the sorted distinct characters (Unicode scalars) of the training corpus, as the PyTorch peer
///   builds it. Text with a character outside the vocabulary is refused with `TokenizerError.unknownCharacter`.
/// - `byte`: the 256 byte values of UTF-8; every text encodes.
public enum Tokenizer: Equatable, Sendable {
    case char(vocabulary: [Unicode.Scalar])
    case byte

    public enum Kind: String, Codable, Sendable, CaseIterable { case char, byte }

    /// Builds a tokenizer of the given kind for a corpus (for `char`, from the corpus's own characters).
    public init(kind: Kind, corpus: String) {
        switch kind {
        case .byte: self = .byte
        case .char:
            var seen = Set<Unicode.Scalar>()
            for s in corpus.unicodeScalars { seen.insert(s) }
            self = .char(vocabulary: seen.sorted { $0.value < $1.value })
        }
    }

    public var kind: Kind {
        switch self {
        case .char: .char
        case .byte: .byte
        }
    }

    public var vocabularySize: Int {
        switch self {
        case .char(let v): v.count
        case .byte: 256
        }
    }

    /// Encodes text; throws naming the first character the vocabulary lacks and where it is.
    public func encode(_ text: String) throws(TokenizerError) -> [Int32] {
        switch self {
        case .byte:
            return text.utf8.map { Int32($0) }
        case .char(let vocabulary):
            // Scalars below U+10000 go through a flat table (a megabyte corpus encodes in milliseconds);
            // the rest, rare in practice, through a dictionary.
            var table = [Int32](repeating: -1, count: 0x10000)
            var rare: [UInt32: Int32] = [:]
            for (i, s) in vocabulary.enumerated() {
                if s.value < 0x10000 { table[Int(s.value)] = Int32(i) } else { rare[s.value] = Int32(i) }
            }
            var ids: [Int32] = []
            ids.reserveCapacity(text.utf8.count)
            var position = 0
            for s in text.unicodeScalars {
                let id = s.value < 0x10000 ? table[Int(s.value)] : (rare[s.value] ?? -1)
                guard id >= 0 else { throw .unknownCharacter(s, position: position) }
                ids.append(id)
                position += 1
            }
            return ids
        }
    }

    /// Decodes ids; bytes that do not form valid UTF-8 become U+FFFD, as any UTF-8 reader would show them.
    public func decode(_ ids: [Int32]) -> String {
        switch self {
        case .byte:
            return String(decoding: ids.map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self)
        case .char(let vocabulary):
            var s = String.UnicodeScalarView()
            for id in ids where id >= 0 && Int(id) < vocabulary.count { s.append(vocabulary[Int(id)]) }
            return String(s)
        }
    }
}

public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case unknownCharacter(Unicode.Scalar, position: Int)

    public var description: String {
        switch self {
        case .unknownCharacter(let s, let position):
            let shown = s.properties.isWhitespace || s.value < 32 ? "U+\(String(s.value, radix: 16, uppercase: true))" : "'\(s)' (U+\(String(s.value, radix: 16, uppercase: true)))"
            return "character \(shown) at position \(position) is not in the model's character vocabulary"
        }
    }
}

extension Tokenizer: Codable {
    private enum CodingKeys: String, CodingKey { case kind, vocabulary }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(Kind.self, forKey: .kind) {
        case .byte: self = .byte
        case .char:
            // Stored as one string of the vocabulary's characters in id order: readable and compact.
            let text = try c.decode(String.self, forKey: .vocabulary)
            let scalars = Array(text.unicodeScalars)
            guard Set(scalars).count == scalars.count, !scalars.isEmpty else {
                throw DecodingError.dataCorruptedError(
                    forKey: .vocabulary, in: c, debugDescription: "char vocabulary is empty or repeats a character")
            }
            self = .char(vocabulary: scalars)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        if case .char(let vocabulary) = self {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: vocabulary)
            try c.encode(String(s), forKey: .vocabulary)
        }
    }
}
