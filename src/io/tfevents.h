// tfevents.h — TensorBoard event files (scalars), written without TensorFlow or protobuf.
//
// A file "events.out.tfevents.<unix time, 10 digits>.<hostname>.<pid>.<n>" (TensorBoard's own
// naming; it reads any name containing "tfevents") in a directory created with its parents.
// The file is a sequence of TFRecords:
//   uint64 length (LE) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
// masked_crc(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8, crc = CRC-32C (Castagnoli).
// Each record's data is an Event protobuf, encoded here by hand (proto3, fields in number order):
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
//             SourceMetadata source_metadata = 10; }       SourceMetadata { string writer = 1; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
// The first record is {wall_time, file_version "brain.Event:2", source_metadata {writer
// "sdlora"}} (tensorboard's writer names itself there); each scalar is one Event with
// one Value — the bytes torch.utils.tensorboard.SummaryWriter.add_scalar writes (proto3 omits a
// step of 0; checked against its output by tests/test_tfevents.c).
//
// An event file is a log that TensorBoard reads while training runs, so it is appended to, not
// written atomically. Records are buffered and written every `flush_every` records and on
// close. Logging must never stop training: a failed write is reported once (log_warn) and the
// writer then drops everything.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

typedef struct TfEvents TfEvents;

// Creates dir (and its parents) and a new event file in it, and writes (buffers) the
// file_version record. flush_every <= 0 means 50. Errors: SDL_ERR_IO naming the directory.
SdlStatus tfevents_open(TfEvents **w, const char *dir, int flush_every);
// One scalar at `step` with the current wall time; value is stored as float (as protobuf does
// with a Python float). NaN is written as the canonical quiet NaN 0x7fc00000. Ignores w == NULL.
void tfevents_scalar(TfEvents *w, const char *tag, int64_t step, double value);
// The same with a given wall time (seconds since the Unix epoch).
void tfevents_scalar_at(TfEvents *w, const char *tag, int64_t step, double value, double wall_time);
// Writes the buffered records and fflush()es. Ignores NULL.
void tfevents_flush(TfEvents *w);
// Flushes, closes and frees. Returns false if any write failed (already reported). NULL → true.
bool tfevents_close(TfEvents *w);
const char *tfevents_path(const TfEvents *w); // the file's path

// ---- exposed for tests ----
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) continuing `crc` (0 to start).
uint32_t crc32c(uint32_t crc, const void *data, size_t n);
uint32_t tfrecord_masked_crc(const void *data, size_t n);
