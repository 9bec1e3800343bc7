/// CRC-32C (Castagnoli), the checksum a checkpoint's `state.json` records for each tensor file.
///
/// Hand-written so the model module needs no extra dependency; slicing-by-8 keeps it at several hundred
/// MB/s even in debug builds, which matters because checkpoints of tens of MB are checked on every resume.
/// CRC-32C rather than a plain hash because it detects every burst error up to 32 bits, the typical
/// shape of a torn write or a flipped sector.
public struct CRC32C: Sendable, Equatable {
    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// The checksum of everything fed so far.
    public var value: UInt32 { ~state }

    /// The checksum as 8 lowercase hex digits, the form `state.json` stores.
    public var hex: String { CRC32C.hex(value) }

    public static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// The checksum of one byte sequence.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress, !bytes.isEmpty else { return }
        var remaining = bytes.count
        var crc = state
        CRC32C.table.withUnsafeBufferPointer { tableBuffer in
            // The table is never empty, so its base address exists.
            guard let t = tableBuffer.baseAddress else { return }
            while remaining >= 8 {
                let lo = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)) ^ crc
                let hi = UInt32(littleEndian: (p + 4).loadUnaligned(as: UInt32.self))
                crc = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                p += 8
                remaining -= 8
            }
            while remaining > 0 {
                crc = t[Int((crc ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                p += 1
                remaining -= 1
            }
        }
        state = crc
    }

    /// Eight 256-entry tables: table k advances a byte through k further zero bytes (slicing-by-8).
    private static let table: [UInt32] = {
        let polynomial: UInt32 = 0x82F6_3B78  // Castagnoli, reflected
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ polynomial : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = t[(k - 1) * 256 + i]
                t[k * 256 + i] = t[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return t
    }()
}
