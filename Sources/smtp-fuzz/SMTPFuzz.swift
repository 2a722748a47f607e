import Foundation
import NIOCore
import SMTPProxy

// Fuzz target for the SMTP relay's parsers: whatever bytes a VM or an upstream sends, the
// line decoder, the command parser and the reply parser must neither crash nor break the
// invariants the relay's safety rests on (no bare CR/LF in text, bounded lines, only
// <CR><LF>.<CR><LF> ending a message). A violated invariant traps, which libFuzzer reports.
//
// Built by fuzz/run with -sanitize=fuzzer and -DFUZZING, which runs libFuzzer's driver.
// In an ordinary build, `smtp-fuzz FILE...` replays inputs (a crash reproducer, a corpus).

func fuzzOneInput(_ bytes: UnsafeRawBufferPointer) {
    guard let selector = bytes.first else { return }
    let input = ByteBuffer(bytes: bytes.dropFirst())
    var decoder = SMTPLineDecoder(mode: selector & 1 == 0 ? .command : .data)
    var buffer = input
    // Feed in pieces of varying size, as TCP would deliver them.
    var pending = ByteBuffer()
    var chunk = Int(selector >> 1) % 7 + 1
    while buffer.readableBytes > 0 || pending.readableBytes > 0 {
        if let slice = buffer.readSlice(length: min(chunk, buffer.readableBytes)) {
            var slice = slice
            pending.writeBuffer(&slice)
        }
        chunk = chunk % 13 + 1
        var madeProgress = false
        while let line = decoder.nextLine(from: &pending) {
            madeProgress = true
            check(line, decoder: decoder)
        }
        if buffer.readableBytes == 0 && !madeProgress { break }
    }
    // The same bytes as upstream replies, line by line.
    var replies = SMTPReplyParser()
    for line in input.readableBytesView.split(separator: UInt8(ascii: "\n")) {
        let trimmed = line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...]
        if (try? replies.feed(trimmed)) == nil, replies.isInsideReply { continue }
    }
}

func check(_ line: SMTPInboundLine, decoder: SMTPLineDecoder) {
    switch line {
    case .command(let bytes):
        precondition(bytes.readableBytes <= SMTPLineDecoder.commandLineLimit - 2, "command line over the limit")
        precondition(!bytes.readableBytesView.contains(13) && !bytes.readableBytesView.contains(10), "CR or LF inside a command line")
        _ = try? SMTPCommandLine(parsing: bytes.readableBytesView)
    case .text(let bytes):
        // One or more lines: split after each LF, then each line must be clean on its own.
        let view = bytes.readableBytesView
        precondition(view.last == 10, "text without its final CRLF")
        for line in view.split(separator: 10, omittingEmptySubsequences: false).dropLast() {
            precondition(line.count + 1 <= SMTPLineDecoder.textLineLimit, "text line over the limit")
            precondition(line.last == 13, "a LF without its CR in message text")
            precondition(!line.dropLast().contains(13) && !line.contains(0), "bare CR or NUL inside message text")
            precondition(!line.elementsEqual([UInt8(ascii: "."), 13]), "end of data delivered as text")
        }
    case .endOfData, .commandTooLong, .commandBareLineEnding, .textTooLong, .textBareLineEnding:
        break
    }
}

#if FUZZING
/// libFuzzer's driver, from the -sanitize=fuzzer runtime.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM links an executable's entry point as `<module>_main` (and `main` as an alias of
/// it); here that entry point starts libFuzzer's driver.
@_cdecl("smtp_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in
        fuzzOneInput(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
#else
/// Replays inputs without libFuzzer: `smtp-fuzz FILE...` (a crash reproducer, a corpus).
@main
enum Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("smtp-fuzz: cannot read \(path)\n".utf8))
                exit(2)
            }
            data.withUnsafeBytes { fuzzOneInput($0) }
            print("ok \(path)")
        }
    }
}
#endif
