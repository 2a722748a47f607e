#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Reading and writing the certificate and key files through POSIX calls, so a failure can say
/// why (no such file, permission denied) and a key is never on disk with a wider mode than 0600,
/// not even between creating and chmodding it.
enum PEMFiles {
    struct Contents {
        var text: String
        /// Permission bits, e.g. 0o600.
        var mode: Int
    }

    static func read(_ path: String, as file: SMTPTLSCertificateError.File) throws(SMTPTLSCertificateError) -> Contents {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let error = errno
            if error == ENOENT { throw .fileMissing(file, path: path) }
            throw .fileUnreadable(file, path: path, reason: String(cString: strerror(error)))
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw .fileUnreadable(file, path: path, reason: String(cString: strerror(errno)))
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw .fileUnreadable(file, path: path, reason: "not a regular file")
        }
        do {
            let data = try handle.readToEnd() ?? Data()
            return Contents(text: String(decoding: data, as: UTF8.self), mode: Int(status.st_mode & 0o7777))
        } catch {
            throw .fileUnreadable(file, path: path, reason: "\(error)")
        }
    }

    static func exists(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0
    }

    /// Creates `directory` (mode 0700) and its parents when missing.
    static func makeDirectory(_ directory: String) throws(SMTPTLSCertificateError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .cannotWrite(path: directory, reason: "\(error)")
        }
    }

    /// Replaces `path` atomically with `text`, mode `mode`: written to a new file beside it
    /// (created with that mode, so never more open), flushed to disk, then renamed over it.
    /// A crash leaves either the old file or the new one, never half of one.
    static func write(_ text: String, to path: String, mode: mode_t) throws(SMTPTLSCertificateError) {
        let temporary = path + ".new-\(getpid())"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        var failure: String?
        // The umask may have narrowed the mode (never widened it); make it exact.
        if fchmod(descriptor, mode) != 0 { failure = String(cString: strerror(errno)) }
        if failure == nil {
            do {
                let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: false)
                try handle.write(contentsOf: Data(text.utf8))
                try handle.synchronize()
            } catch {
                failure = "\(error)"
            }
        }
        close(descriptor)
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw .cannotWrite(path: path, reason: failure)
        }
    }
}
