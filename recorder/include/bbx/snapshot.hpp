// blackbox snapshots from inside the program: the last seconds of the
// running capture, copied into a compressed file while recording goes on.
//
//     if (elapsed > 200ms) bbx::snapshot("/var/tmp/slow-request.bbx");
//
// The file is a capture container (spec/container.md):
// the ring file's image, LZ4-compressed in 64 KiB chunks with CRC-32C
// checksums; every `bbx` verb reads it. A program that calls snapshot()
// links liblz4 too (-llz4; Debian: liblz4-dev); one that does not, does not.
#pragma once

#include "bbx/bbx.hpp"

namespace bbx {

// Writes the image of this process's capture (the running session, or the
// last one after stop()) to a new file at path, compressed. The image is
// what a reader sees: each event slot is copied under its sequence lock, so
// an event being written while it is copied shows as torn (and is skipped by
// a decoder), never as a mix of two events; recording threads never wait.
// The file is created with mode 0600, O_EXCL | O_NOFOLLOW: an existing file
// or symlink at path makes it fail, and nothing is overwritten. It is not
// fsync'ed.
//
// Returns false, leaving no file behind, if no session was ever started,
// the file could not be created or written, or memory for the image was not
// available. Thread-safe (several snapshots may run at once), but must not
// run concurrently with start(). Not signal-safe. Cost: it maps one image
// of the capture's file size (pages of rings no thread took stay untouched)
// and compresses what is not zero at LZ4 speed: about 1.5 ms for the
// default 4.3 MiB file with one full ring, to about 25 KiB.
BBX_API bool snapshot(const char* path);

}  // namespace bbx
