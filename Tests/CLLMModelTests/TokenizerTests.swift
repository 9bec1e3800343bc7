#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing
@testable import CLLMModel

/// The shared corpus sits beside the repository (`../shared/data/`), in CI as in development.
let tinyShakespearePath: String = {
    var dir = "\(#filePath)"
    for _ in 0..<3 { if let i = dir.lastIndex(of: "/") { dir = String(dir[..<i]) } }  // package root
    let candidates = [dir + "/../shared/data/tinyshakespeare.txt", "/work/shared/data/tinyshakespeare.txt"]
    return candidates.first { access($0, R_OK) == 0 } ?? candidates[0]
}()
let tinyShakespeareAvailable = access(tinyShakespearePath, R_OK) == 0

@Suite struct TokenizerTests {
    static let multilingual = "héllo, wörld! 日本語 🙂👍🏽\nnaïve café\t€ 𝄞"

    @Test func charRoundTripWithMultiByteCharacters() throws {
        let tokenizer = Tokenizer(kind: .char, corpus: Self.multilingual)
        let ids = try tokenizer.encode(Self.multilingual)
        #expect(ids.count == Self.multilingual.unicodeScalars.count)
        #expect(tokenizer.decode(ids) == Self.multilingual)
        #expect(tokenizer.vocabularySize == Set(Self.multilingual.unicodeScalars).count)
        #expect(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
    }

    @Test func byteRoundTrip() throws {
        let tokenizer = Tokenizer(kind: .byte, corpus: "ignored")
        #expect(tokenizer == .byte && tokenizer.vocabularySize == 256)
        let ids = try tokenizer.encode(Self.multilingual)
        #expect(ids == Self.multilingual.utf8.map { Int32($0) })
        #expect(tokenizer.decode(ids) == Self.multilingual)
        // Every byte value is a token; bytes that are not UTF-8 decode to U+FFFD, valid ones around them survive.
        let all = try tokenizer.encode(String(decoding: [0x41, 0xFF, 0x42], as: UTF8.self))
        #expect(tokenizer.decode(all) == "A\u{FFFD}B")
        #expect(tokenizer.decode([0x41, 0xC3]) == "A\u{FFFD}")
        #expect(tokenizer.decode([0xE6, 0x97, 0xA5]) == "日")
    }

    @Test func charVocabularyIsSortedAndDistinct() throws {
        let tokenizer = Tokenizer(kind: .char, corpus: "banana 日本 BANANA 🙂 banana")
        guard case .char(let vocabulary) = tokenizer else { Issue.record("expected char"); return }
        #expect(vocabulary.map(\.value) == vocabulary.map(\.value).sorted())
        #expect(Set(vocabulary).count == vocabulary.count)
        #expect(vocabulary == [" ", "A", "B", "N", "a", "b", "n", "日", "本", "🙂"])
    }

    @Test(.enabled(if: tinyShakespeareAvailable, "tinyshakespeare absent"))
    func tinyShakespeareHas65Characters() throws {
        let corpus = try Corpus.load(path: tinyShakespearePath)
        let tokenizer = Tokenizer(kind: .char, corpus: corpus.text)
        #expect(tokenizer.vocabularySize == 65)
        guard case .char(let vocabulary) = tokenizer else { Issue.record("expected char"); return }
        #expect(String(String.UnicodeScalarView(vocabulary))
            == "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    }

    @Test func unknownCharacterIsNamedWithItsPosition() throws {
        let tokenizer = Tokenizer(kind: .char, corpus: "abc ")
        let error = #expect(throws: TokenizerError.self) { try tokenizer.encode("ab cé") }
        #expect(error == .unknownCharacter("é", position: 4))
        #expect(error?.description.contains("'é'") == true)
        #expect(error?.description.contains("position 4") == true)
        // Invisible characters are shown by code point.
        let tab = #expect(throws: TokenizerError.self) { try tokenizer.encode("a\tb") }
        #expect(tab?.description.contains("U+9") == true)
    }

    @Test(arguments: [Tokenizer.byte, Tokenizer(kind: .char, corpus: multilingual)])
    func codableRoundTrip(_ tokenizer: Tokenizer) throws {
        let data = try JSONEncoder().encode(tokenizer)
        let decoded = try JSONDecoder().decode(Tokenizer.self, from: data)
        #expect(decoded == tokenizer)
        #expect(try decoded.encode(Self.multilingual) == tokenizer.encode(Self.multilingual))
    }

    @Test(arguments: [#"{"kind":"char","vocabulary":"abca"}"#, #"{"kind":"char","vocabulary":""}"#])
    func decodedCharVocabularyMustBeDistinctAndNonEmpty(_ json: String) throws {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Tokenizer.self, from: Data(json.utf8)) }
    }
}
