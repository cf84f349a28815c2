// ckpt.h — PyTorch zip checkpoints (.ckpt, .pt, .pth, .bin) read without running any code:
// the archive's <top>/data.pkl is interpreted by a restricted unpickler, and the tensors it
// describes become a SafeTensors whose data points into the mmapped file, so st_find,
// st_tensor_to_f32, param_table_load and st_close work on a .ckpt exactly as on a .safetensors.
//
// The unpickler (ckpt.c) is a data-only stack machine:
//  - Opcodes: PROTO FRAME STOP MARK POP POP_MARK DUP NONE NEWTRUE NEWFALSE BININT BININT1
//    BININT2 LONG1 LONG4 BINFLOAT BINUNICODE SHORT_BINUNICODE BINUNICODE8 BINSTRING
//    SHORT_BINSTRING BINBYTES SHORT_BINBYTES BINBYTES8 EMPTY_DICT EMPTY_LIST EMPTY_TUPLE DICT LIST
//    TUPLE TUPLE1-3 SETITEM SETITEMS APPEND APPENDS BINPUT LONG_BINPUT MEMOIZE BINGET LONG_BINGET
//    GLOBAL STACK_GLOBAL REDUCE NEWOBJ BUILD BINPERSID. Any other opcode (INST, OBJ, EXT*,
//    NEWOBJ_EX, the protocol-0 text opcodes, …) is an error naming it.
//  - GLOBAL/STACK_GLOBAL resolve only names on an allow-list; anything else (os.system,
//    builtins.eval, posix.system, …) is an SDL_ERR_FORMAT error naming it. "Calling" (REDUCE)
//    is interpreted, never executed: collections.OrderedDict() → empty dict;
//    torch._utils._rebuild_tensor_v2 / _rebuild_tensor(storage, offset, size, stride, …) → a
//    tensor record; torch._utils._rebuild_parameter(tensor, …) → that tensor. Storage classes
//    (torch.FloatStorage, HalfStorage, BFloat16Storage, DoubleStorage, LongStorage, IntStorage,
//    ShortStorage, CharStorage, ByteStorage, BoolStorage) only appear inside persistent ids
//    ('storage', <class>, key, location, numel). A few metadata classes that training
//    frameworks pickle beside the weights (numpy.core.multiarray.scalar, numpy.dtype,
//    _codecs.encode, argparse.Namespace, pytorch_lightning ModelCheckpoint) become inert
//    placeholders: REDUCE/NEWOBJ/BUILD on them yield a placeholder, whose value is dropped.
//  - BUILD's state is discarded (state_dict OrderedDicts carry a _metadata attribute).
//  - Memory is bounded by the pickle's size: memo indices must be dense (a put reuses an index
//    or takes the next one, as every Python pickler does), and each opcode creates at most one
//    object and one stack or container slot.
//
// Which tensors: the unpickled object must be a dict; while it has a "state_dict" entry that is
// a dict, that is used instead (LDM checkpoints nest it once, some twice; diffusers/transformers
// .bin files are flat). Its string-keyed tensor entries become the SafeTensors; other entries
// ("global_step", "epoch", optimizer state, …) are ignored.
//
// Tensors must be contiguous (row-major strides; dims of size 1 may have any stride), as every
// torch.save of a state_dict is; a non-contiguous view is an error rather than a silent copy,
// because it never occurs in real checkpoints and zero-copy is the point. Views at an offset
// into a shared storage are fine. Storage members must be stored (uncompressed), as torch
// writes them. The legacy pre-1.6 (non-zip) format is refused with a hint.
#pragma once
#include <stddef.h>
#include "base/error.h"
#include "io/safetensors.h"

// Maps the file and reads it as above; close with st_close (which unmaps it). Errors name the
// file: SDL_ERR_IO (cannot open/map), SDL_ERR_FORMAT (not a torch zip, damaged, forbidden
// global/opcode, inconsistent tensor), SDL_ERR_UNSUPPORTED (legacy format, compressed member),
// SDL_ERR_OOM. On failure *st is left empty.
SdlStatus ckpt_open(SafeTensors *st, const char *path);
// Same over a buffer the caller keeps alive until st_close (st->map stays NULL).
SdlStatus ckpt_open_memory(SafeTensors *st, const void *bytes, size_t size, const char *name);
// 1 if the bytes start like a zip archive ("PK\3\4"), which is what torch.save writes.
int ckpt_looks_like_zip(const void *bytes, size_t size);
