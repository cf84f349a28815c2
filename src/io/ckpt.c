// ckpt.c — restricted unpickler for PyTorch zip checkpoints; the rules are in ckpt.h.
//
// Opcode values and their argument encodings are those of CPython's Lib/pickle.py (protocols
// 2-5); torch.save writes protocol 2. The machine keeps Python's stack discipline: MARK opens
// a new frame, and no opcode may pop below the innermost mark. Strings point into the pickle
// (no copies); every object is owned by the machine and freed together at the end, so shared
// references (memo, DUP) need no counting.
#include "io/ckpt.h"
#include "io/zip.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "torch storages are little-endian; sdlora supports only little-endian hosts"
#endif

#define HINT_CONVERT "convert the checkpoint to .safetensors with a trusted tool"
#define HINT_CODE "the file may be malicious or may hold more than model weights; sdlora never runs code from a checkpoint — " HINT_CONVERT
#define HINT_DAMAGED "the checkpoint is damaged (an interrupted download?); re-download it, or " HINT_CONVERT

typedef enum { PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_BYTES, PK_TUPLE, PK_LIST, PK_DICT,
               PK_GLOBAL, PK_STORAGE, PK_TENSOR, PK_INERT } PkType;

typedef enum { G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_TENSOR, G_REBUILD_PARAMETER, G_STORAGE, G_INERT } GlobalKind;

typedef struct {
    const char *module, *name;
    GlobalKind kind;
    StDtype dtype; // G_STORAGE only
} GlobalDef;

// Everything a state_dict pickle may import. Inert entries are metadata classes that Lightning
// and numpy put beside the weights; they are never called, only replaced by a placeholder.
static const GlobalDef allowed_globals[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, 0},
    {"torch._utils", "_rebuild_tensor", G_REBUILD_TENSOR, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, 0},
    {"torch", "FloatStorage", G_STORAGE, ST_F32},
    {"torch", "HalfStorage", G_STORAGE, ST_F16},
    {"torch", "BFloat16Storage", G_STORAGE, ST_BF16},
    {"torch", "DoubleStorage", G_STORAGE, ST_F64},
    {"torch", "LongStorage", G_STORAGE, ST_I64},
    {"torch", "IntStorage", G_STORAGE, ST_I32},
    {"torch", "ShortStorage", G_STORAGE, ST_I16},
    {"torch", "CharStorage", G_STORAGE, ST_I8},
    {"torch", "ByteStorage", G_STORAGE, ST_U8},
    {"torch", "BoolStorage", G_STORAGE, ST_BOOL},
    {"numpy.core.multiarray", "scalar", G_INERT, 0},
    {"numpy", "dtype", G_INERT, 0},
    {"_codecs", "encode", G_INERT, 0},
    {"argparse", "Namespace", G_INERT, 0},
    {"pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint", G_INERT, 0},
};

typedef struct PkObj PkObj;
struct PkObj {
    PkType type;
    int64_t i;                 // INT, BOOL; STORAGE: numel
    const char *s;             // STR, BYTES: into the pickle (not NUL-terminated); STORAGE: key
    size_t len;
    PkObj **items;             // TUPLE, LIST; DICT as key, value, key, value, ...
    size_t n, cap;
    const GlobalDef *global;   // GLOBAL; STORAGE: its class
    const PkObj *storage;      // TENSOR
    int64_t offset;            // TENSOR: storage offset in elements
    int ndim;
    int64_t shape[ST_MAX_DIMS], stride[ST_MAX_DIMS];
};

typedef struct {
    const unsigned char *p;    // data.pkl
    size_t size, pos;
    const char *file;
    PkObj **objs;              // every object, for freeing
    size_t n_objs, cap_objs;
    PkObj **stack;
    size_t sp, cap_stack;
    size_t *marks;
    size_t n_marks, cap_marks;
    PkObj **memo;
    size_t cap_memo;
    size_t memo_next;          // entries stored so far (dense); MEMOIZE's index
} Vm;

// ---------------------------------------------------------------- helpers

// Grows *arr (elements of `elem` bytes) to hold at least `need`. 0 on overflow or no memory.
static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return 0;
        c *= 2;
    }
    void *p = realloc(*arr, c * elem);
    if (!p) return 0;
    *arr = p;
    *cap = c;
    return 1;
}

// A string from the file as it can be printed in a message.
static const char *printable(const char *s, size_t len, char *buf, size_t cap) {
    size_t n = 0, i = 0;
    for (; i < len && n + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    if (i < len) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n] = '\0';
    return buf;
}

static SdlStatus fail_at(Vm *vm, size_t at, const char *what) {
    return sdl_fail(SDL_ERR_FORMAT, vm->file, HINT_DAMAGED, "data.pkl: %s (at pickle byte %zu)", what, at);
}

static PkObj *new_obj(Vm *vm, PkType type) {
    if (!grow((void **)&vm->objs, &vm->cap_objs, vm->n_objs + 1, sizeof *vm->objs)) return NULL;
    PkObj *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->type = type;
    vm->objs[vm->n_objs++] = o;
    return o;
}

static void vm_free(Vm *vm) {
    for (size_t i = 0; i < vm->n_objs; i++) {
        free(vm->objs[i]->items);
        free(vm->objs[i]);
    }
    free(vm->objs);
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
}

static int add_item(PkObj *o, PkObj *item) {
    if (!grow((void **)&o->items, &o->cap, o->n + 1, sizeof *o->items)) return 0;
    o->items[o->n++] = item;
    return 1;
}

static const char *type_name(PkType t) {
    static const char *names[] = {"None", "bool", "int", "float", "str", "bytes", "tuple", "list", "dict",
                                  "global", "storage", "tensor", "placeholder"};
    return names[t];
}

#define OOM() sdl_fail(SDL_ERR_OOM, vm->file, NULL, "out of memory reading data.pkl")

static SdlStatus push(Vm *vm, PkObj *o) {
    if (!o || !grow((void **)&vm->stack, &vm->cap_stack, vm->sp + 1, sizeof *vm->stack)) return OOM();
    vm->stack[vm->sp++] = o;
    return SDL_OK;
}

static size_t frame_floor(const Vm *vm) { return vm->n_marks ? vm->marks[vm->n_marks - 1] : 0; }

static SdlStatus pop(Vm *vm, size_t at, PkObj **out) {
    if (vm->sp <= frame_floor(vm)) return fail_at(vm, at, "stack underflow");
    *out = vm->stack[--vm->sp];
    return SDL_OK;
}

static SdlStatus top(Vm *vm, size_t at, PkObj **out) {
    if (vm->sp <= frame_floor(vm)) return fail_at(vm, at, "stack underflow");
    *out = vm->stack[vm->sp - 1];
    return SDL_OK;
}

// Pops the innermost mark; *first = index of the first object above it.
static SdlStatus pop_mark(Vm *vm, size_t at, size_t *first) {
    if (!vm->n_marks) return fail_at(vm, at, "opcode needs a MARK but there is none");
    *first = vm->marks[--vm->n_marks];
    return SDL_OK;
}

static SdlStatus read_bytes(Vm *vm, size_t n, const unsigned char **out) {
    if (n > vm->size - vm->pos)
        return sdl_fail(SDL_ERR_FORMAT, vm->file, HINT_DAMAGED, "data.pkl is truncated: an opcode at byte %zu needs %zu more bytes, %zu remain",
                        vm->pos, n, vm->size - vm->pos);
    *out = vm->p + vm->pos;
    vm->pos += n;
    return SDL_OK;
}

static SdlStatus read_uint(Vm *vm, int nbytes, uint64_t *v) {
    const unsigned char *b = NULL;
    SDL_TRY(read_bytes(vm, (size_t)nbytes, &b));
    *v = 0;
    for (int i = 0; i < nbytes; i++) *v |= (uint64_t)b[i] << (8 * i);
    return SDL_OK;
}

static SdlStatus memo_put(Vm *vm, size_t at, uint64_t idx) {
    PkObj *o = NULL;
    SDL_TRY(top(vm, at, &o));
    // Each memo store costs the pickle at least one byte, so a valid index is below its size;
    // this bounds the memo table by the file, whatever index a hostile file names.
    // Python's picklers number memo entries densely (each new one gets len(memo)), so an index
    // may reuse an entry or be the next one, never skip ahead: the table then grows by at most
    // one entry per opcode, whatever index a hostile file names.
    if (idx > vm->memo_next) {
        char m[96];
        snprintf(m, sizeof m, "memo index %llu skips ahead of the %zu entries stored so far", (unsigned long long)idx, vm->memo_next);
        return fail_at(vm, at, m);
    }
    if (idx == vm->memo_next) vm->memo_next++;
    if (idx >= vm->cap_memo) {
        size_t old = vm->cap_memo;
        if (!grow((void **)&vm->memo, &vm->cap_memo, (size_t)idx + 1, sizeof *vm->memo)) return OOM();
        memset(vm->memo + old, 0, (vm->cap_memo - old) * sizeof *vm->memo);
    }
    vm->memo[idx] = o;
    return SDL_OK;
}

static SdlStatus memo_get(Vm *vm, size_t at, uint64_t idx) {
    if (idx >= vm->cap_memo || !vm->memo[idx]) {
        char m[96];
        snprintf(m, sizeof m, "memo entry %llu is read before it is stored", (unsigned long long)idx);
        return fail_at(vm, at, m);
    }
    return push(vm, vm->memo[idx]);
}

static SdlStatus push_str(Vm *vm, PkType type, size_t len) {
    const unsigned char *b = NULL;
    SDL_TRY(read_bytes(vm, len, &b));
    PkObj *o = new_obj(vm, type);
    if (!o) return OOM();
    o->s = (const char *)b;
    o->len = len;
    return push(vm, o);
}

static SdlStatus push_int(Vm *vm, int64_t v) {
    PkObj *o = new_obj(vm, PK_INT);
    if (!o) return OOM();
    o->i = v;
    return push(vm, o);
}

// Sequence of the objects above index `first` on the stack (which are removed).
static SdlStatus collect(Vm *vm, PkType type, size_t first) {
    PkObj *o = new_obj(vm, type);
    if (!o) return OOM();
    for (size_t k = first; k < vm->sp; k++)
        if (!add_item(o, vm->stack[k])) return OOM();
    vm->sp = first;
    return push(vm, o);
}

static int str_eq(const PkObj *o, const char *s) {
    return o->type == PK_STR && o->len == strlen(s) && memcmp(o->s, s, o->len) == 0;
}

static SdlStatus resolve_global(Vm *vm, size_t at, const char *mod, size_t mod_len, const char *name, size_t name_len) {
    for (size_t k = 0; k < sizeof allowed_globals / sizeof *allowed_globals; k++) {
        const GlobalDef *g = &allowed_globals[k];
        if (strlen(g->module) == mod_len && memcmp(g->module, mod, mod_len) == 0 &&
            strlen(g->name) == name_len && memcmp(g->name, name, name_len) == 0) {
            PkObj *o = new_obj(vm, PK_GLOBAL);
            if (!o) return OOM();
            o->global = g;
            return push(vm, o);
        }
    }
    char m[128], n[128];
    return sdl_fail(SDL_ERR_FORMAT, vm->file, HINT_CODE,
                    "data.pkl imports '%s.%s' (at pickle byte %zu), which is not on sdlora's list of tensor-data globals; "
                    "the file was not loaded and nothing in it was run",
                    printable(mod, mod_len, m, sizeof m), printable(name, name_len, n, sizeof n), at);
}

static int int_of(const PkObj *o, int64_t *v) {
    if (o->type != PK_INT && o->type != PK_BOOL) return 0;
    *v = o->i;
    return 1;
}

// ('storage', <StorageClass>, key, location, numel) → a storage record.
static SdlStatus persistent_load(Vm *vm, size_t at, PkObj *pid) {
    int64_t numel;
    if (pid->type != PK_TUPLE || pid->n != 5 || !str_eq(pid->items[0], "storage") || pid->items[1]->type != PK_GLOBAL ||
        pid->items[1]->global->kind != G_STORAGE || pid->items[2]->type != PK_STR || pid->items[3]->type != PK_STR ||
        !int_of(pid->items[4], &numel) || numel < 0)
        return fail_at(vm, at, "persistent id is not ('storage', <torch storage class>, key, location, numel)");
    PkObj *o = new_obj(vm, PK_STORAGE);
    if (!o) return OOM();
    o->global = pid->items[1]->global;
    o->s = pid->items[2]->s;
    o->len = pid->items[2]->len;
    o->i = numel;
    return push(vm, o);
}

static int int_tuple(const PkObj *t, int64_t *out, int *n) {
    if (t->type != PK_TUPLE || t->n > ST_MAX_DIMS) return 0;
    for (size_t k = 0; k < t->n; k++)
        if (!int_of(t->items[k], &out[k])) return 0;
    *n = (int)t->n;
    return 1;
}

// REDUCE: "calls" an allow-listed global by interpreting it.
static SdlStatus reduce(Vm *vm, size_t at, PkObj *fn, PkObj *args) {
    if (fn->type == PK_INERT) return push(vm, fn); // calling a placeholder gives a placeholder
    if (fn->type != PK_GLOBAL || args->type != PK_TUPLE) {
        char m[96];
        snprintf(m, sizeof m, "REDUCE of a %s with %s arguments", type_name(fn->type), type_name(args->type));
        return fail_at(vm, at, m);
    }
    const GlobalDef *g = fn->global;
    switch (g->kind) {
    case G_ORDERED_DICT:
        if (args->n != 0) return fail_at(vm, at, "collections.OrderedDict called with arguments");
        return push(vm, new_obj(vm, PK_DICT));
    case G_REBUILD_TENSOR_V2:
    case G_REBUILD_TENSOR: {
        PkObj *t = new_obj(vm, PK_TENSOR);
        if (!t) return OOM();
        int nd_stride = -1;
        if (args->n < 4 || args->items[0]->type != PK_STORAGE || !int_of(args->items[1], &t->offset) ||
            !int_tuple(args->items[2], t->shape, &t->ndim) || !int_tuple(args->items[3], t->stride, &nd_stride) ||
            nd_stride != t->ndim)
            return fail_at(vm, at, "torch._utils._rebuild_tensor arguments are not (storage, offset, size, stride, ...) with at most 8 dims");
        t->storage = args->items[0];
        return push(vm, t);
    }
    case G_REBUILD_PARAMETER:
        if (args->n < 1 || args->items[0]->type != PK_TENSOR)
            return fail_at(vm, at, "torch._utils._rebuild_parameter is not given a tensor");
        return push(vm, args->items[0]);
    case G_INERT:
        return push(vm, new_obj(vm, PK_INERT));
    case G_STORAGE:
        break;
    }
    char m[128];
    snprintf(m, sizeof m, "REDUCE calls %s.%s, which is only valid inside a persistent id", g->module, g->name);
    return fail_at(vm, at, m);
}

// Names of opcodes that exist in pickle but that this machine refuses, for the message.
static const char *refused_opcode_name(unsigned char op) {
    switch (op) {
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x92: return "NEWOBJ_EX";
    case 'P': return "PERSID";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    case 'F': return "FLOAT";
    case 'g': return "GET";
    case 'p': return "PUT";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return NULL;
    }
}

// ---------------------------------------------------------------- the machine

static SdlStatus run(Vm *vm, PkObj **result) {
    *result = NULL;
    for (;;) {
        size_t at = vm->pos;
        const unsigned char *opb = NULL;
        SDL_TRY(read_bytes(vm, 1, &opb));
        unsigned char op = *opb;
        uint64_t u = 0;
        PkObj *a = NULL, *b = NULL, *c = NULL;
        size_t first = 0;
        switch (op) {
        case 0x80: // PROTO
            SDL_TRY(read_uint(vm, 1, &u));
            if (u < 2 || u > 5) return fail_at(vm, at, "unsupported pickle protocol (sdlora reads protocols 2-5)");
            break;
        case 0x95: // FRAME: a length hint only
            SDL_TRY(read_uint(vm, 8, &u));
            break;
        case '.': // STOP
            SDL_TRY(pop(vm, at, result));
            return SDL_OK;
        case '(': // MARK
            if (!grow((void **)&vm->marks, &vm->cap_marks, vm->n_marks + 1, sizeof *vm->marks)) return OOM();
            vm->marks[vm->n_marks++] = vm->sp;
            break;
        case '0': // POP
            SDL_TRY(pop(vm, at, &a));
            break;
        case '1': // POP_MARK
            SDL_TRY(pop_mark(vm, at, &first));
            vm->sp = first;
            break;
        case '2': // DUP
            SDL_TRY(top(vm, at, &a));
            SDL_TRY(push(vm, a));
            break;
        case 'N': SDL_TRY(push(vm, new_obj(vm, PK_NONE))); break;
        case 0x88: // NEWTRUE
        case 0x89: // NEWFALSE
            if (!(a = new_obj(vm, PK_BOOL))) return OOM();
            a->i = op == 0x88;
            SDL_TRY(push(vm, a));
            break;
        case 'J': // BININT: signed 32-bit
            SDL_TRY(read_uint(vm, 4, &u));
            SDL_TRY(push_int(vm, (int64_t)(int32_t)(uint32_t)u));
            break;
        case 'K': SDL_TRY(read_uint(vm, 1, &u)); SDL_TRY(push_int(vm, (int64_t)u)); break; // BININT1
        case 'M': SDL_TRY(read_uint(vm, 2, &u)); SDL_TRY(push_int(vm, (int64_t)u)); break; // BININT2
        case 0x8a: // LONG1: n-byte little-endian two's complement
        case 0x8b: { // LONG4
            SDL_TRY(read_uint(vm, op == 0x8a ? 1 : 4, &u));
            if (u > 8) return fail_at(vm, at, "integer wider than 64 bits");
            uint64_t v = 0;
            int n = (int)u;
            SDL_TRY(read_uint(vm, n, &v));
            if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~(uint64_t)0 << (8 * n); // sign-extend
            SDL_TRY(push_int(vm, (int64_t)v));
            break;
        }
        case 'G': { // BINFLOAT: big-endian double
            const unsigned char *fb = NULL;
            SDL_TRY(read_bytes(vm, 8, &fb));
            if (!(a = new_obj(vm, PK_FLOAT))) return OOM();
            SDL_TRY(push(vm, a)); // the value itself is never needed
            break;
        }
        case 'X': SDL_TRY(read_uint(vm, 4, &u)); SDL_TRY(push_str(vm, PK_STR, (size_t)u)); break;    // BINUNICODE
        case 0x8c: SDL_TRY(read_uint(vm, 1, &u)); SDL_TRY(push_str(vm, PK_STR, (size_t)u)); break;   // SHORT_BINUNICODE
        case 0x8d: // BINUNICODE8
            SDL_TRY(read_uint(vm, 8, &u));
            if (u > vm->size) return fail_at(vm, at, "string longer than the pickle");
            SDL_TRY(push_str(vm, PK_STR, (size_t)u));
            break;
        case 'T': SDL_TRY(read_uint(vm, 4, &u)); SDL_TRY(push_str(vm, PK_STR, (size_t)u)); break;    // BINSTRING
        case 'U': SDL_TRY(read_uint(vm, 1, &u)); SDL_TRY(push_str(vm, PK_STR, (size_t)u)); break;    // SHORT_BINSTRING
        case 'B': SDL_TRY(read_uint(vm, 4, &u)); SDL_TRY(push_str(vm, PK_BYTES, (size_t)u)); break;  // BINBYTES
        case 'C': SDL_TRY(read_uint(vm, 1, &u)); SDL_TRY(push_str(vm, PK_BYTES, (size_t)u)); break;  // SHORT_BINBYTES
        case 0x8e: // BINBYTES8
            SDL_TRY(read_uint(vm, 8, &u));
            if (u > vm->size) return fail_at(vm, at, "bytes longer than the pickle");
            SDL_TRY(push_str(vm, PK_BYTES, (size_t)u));
            break;
        case '}': SDL_TRY(push(vm, new_obj(vm, PK_DICT))); break;   // EMPTY_DICT
        case ']': SDL_TRY(push(vm, new_obj(vm, PK_LIST))); break;   // EMPTY_LIST
        case ')': SDL_TRY(push(vm, new_obj(vm, PK_TUPLE))); break;  // EMPTY_TUPLE
        case 't': SDL_TRY(pop_mark(vm, at, &first)); SDL_TRY(collect(vm, PK_TUPLE, first)); break; // TUPLE
        case 'l': SDL_TRY(pop_mark(vm, at, &first)); SDL_TRY(collect(vm, PK_LIST, first)); break;  // LIST
        case 'd': // DICT
            SDL_TRY(pop_mark(vm, at, &first));
            if ((vm->sp - first) % 2) return fail_at(vm, at, "DICT with an odd number of items");
            SDL_TRY(collect(vm, PK_DICT, first));
            break;
        case 0x85: case 0x86: case 0x87: { // TUPLE1..3
            size_t n = (size_t)(op - 0x84);
            if (vm->sp - frame_floor(vm) < n) return fail_at(vm, at, "stack underflow");
            SDL_TRY(collect(vm, PK_TUPLE, vm->sp - n));
            break;
        }
        case 's': // SETITEM
            SDL_TRY(pop(vm, at, &c));
            SDL_TRY(pop(vm, at, &b));
            SDL_TRY(top(vm, at, &a));
            if (a->type == PK_INERT) break;
            if (a->type != PK_DICT) return fail_at(vm, at, "SETITEM on something that is not a dict");
            if (!add_item(a, b) || !add_item(a, c)) return OOM();
            break;
        case 'u': // SETITEMS
            SDL_TRY(pop_mark(vm, at, &first));
            if (first == frame_floor(vm) || (vm->sp - first) % 2)
                return fail_at(vm, at, "SETITEMS without a dict below its mark, or with an odd number of items");
            a = vm->stack[first - 1];
            if (a->type != PK_DICT && a->type != PK_INERT) return fail_at(vm, at, "SETITEMS on something that is not a dict");
            if (a->type == PK_DICT)
                for (size_t k = first; k < vm->sp; k++)
                    if (!add_item(a, vm->stack[k])) return OOM();
            vm->sp = first;
            break;
        case 'a': // APPEND
            SDL_TRY(pop(vm, at, &b));
            SDL_TRY(top(vm, at, &a));
            if (a->type == PK_INERT) break;
            if (a->type != PK_LIST) return fail_at(vm, at, "APPEND to something that is not a list");
            if (!add_item(a, b)) return OOM();
            break;
        case 'e': // APPENDS
            SDL_TRY(pop_mark(vm, at, &first));
            if (first == frame_floor(vm)) return fail_at(vm, at, "APPENDS without a list below its mark");
            a = vm->stack[first - 1];
            if (a->type != PK_LIST && a->type != PK_INERT) return fail_at(vm, at, "APPENDS to something that is not a list");
            if (a->type == PK_LIST)
                for (size_t k = first; k < vm->sp; k++)
                    if (!add_item(a, vm->stack[k])) return OOM();
            vm->sp = first;
            break;
        case 'q': SDL_TRY(read_uint(vm, 1, &u)); SDL_TRY(memo_put(vm, at, u)); break; // BINPUT
        case 'r': SDL_TRY(read_uint(vm, 4, &u)); SDL_TRY(memo_put(vm, at, u)); break; // LONG_BINPUT
        case 0x94: SDL_TRY(memo_put(vm, at, vm->memo_next)); break;  // MEMOIZE
        case 'h': SDL_TRY(read_uint(vm, 1, &u)); SDL_TRY(memo_get(vm, at, u)); break; // BINGET
        case 'j': SDL_TRY(read_uint(vm, 4, &u)); SDL_TRY(memo_get(vm, at, u)); break; // LONG_BINGET
        case 'c': { // GLOBAL "module\nname\n"
            const unsigned char *s = vm->p + vm->pos, *end = vm->p + vm->size;
            const unsigned char *nl1 = memchr(s, '\n', (size_t)(end - s));
            const unsigned char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
            if (!nl2) return fail_at(vm, at, "GLOBAL without two newline-terminated names (truncated?)");
            vm->pos = (size_t)(nl2 + 1 - vm->p);
            SDL_TRY(resolve_global(vm, at, (const char *)s, (size_t)(nl1 - s), (const char *)nl1 + 1, (size_t)(nl2 - nl1 - 1)));
            break;
        }
        case 0x93: // STACK_GLOBAL
            SDL_TRY(pop(vm, at, &b));
            SDL_TRY(pop(vm, at, &a));
            if (a->type != PK_STR || b->type != PK_STR) return fail_at(vm, at, "STACK_GLOBAL needs two strings");
            SDL_TRY(resolve_global(vm, at, a->s, a->len, b->s, b->len));
            break;
        case 'R': // REDUCE
            SDL_TRY(pop(vm, at, &b));
            SDL_TRY(pop(vm, at, &a));
            SDL_TRY(reduce(vm, at, a, b));
            break;
        case 0x81: // NEWOBJ: only placeholders may be instantiated
            SDL_TRY(pop(vm, at, &b));
            SDL_TRY(pop(vm, at, &a));
            if (!(a->type == PK_GLOBAL && a->global->kind == G_INERT) && a->type != PK_INERT)
                return fail_at(vm, at, "NEWOBJ of a class that is not an inert metadata class");
            SDL_TRY(push(vm, new_obj(vm, PK_INERT)));
            break;
        case 'b': // BUILD: the state is dropped
            SDL_TRY(pop(vm, at, &b));
            SDL_TRY(top(vm, at, &a));
            if (a->type != PK_DICT && a->type != PK_TENSOR && a->type != PK_INERT)
                return fail_at(vm, at, "BUILD on something that is not a dict, tensor or placeholder");
            break;
        case 'Q': // BINPERSID
            SDL_TRY(pop(vm, at, &a));
            SDL_TRY(persistent_load(vm, at, a));
            break;
        default: {
            const char *name = refused_opcode_name(op);
            if (name)
                return sdl_fail(SDL_ERR_FORMAT, vm->file, HINT_CODE,
                                "data.pkl uses the pickle opcode %s (0x%02x, at byte %zu), which sdlora's data-only unpickler does not accept",
                                name, op, at);
            return sdl_fail(SDL_ERR_FORMAT, vm->file, HINT_DAMAGED,
                            "data.pkl has the unknown pickle opcode 0x%02x at byte %zu", op, at);
        }
        }
    }
}

// ---------------------------------------------------------------- tensors

static const PkObj *dict_get(const PkObj *d, const char *key) {
    for (size_t k = 0; k + 1 < d->n; k += 2)
        if (str_eq(d->items[k], key)) return d->items[k + 1];
    return NULL;
}

static _Thread_local const StTensor *by_name_base; // qsort has no context argument
static int cmp_index_by_name(const void *a, const void *b) {
    return strcmp(by_name_base[*(const int64_t *)a].name, by_name_base[*(const int64_t *)b].name);
}

// Checks one tensor record against its storage member and fills t (data points into the zip).
static SdlStatus make_tensor(StTensor *t, const PkObj *o, const char *name, const ZipArchive *z, const char *prefix, const char *file) {
    const PkObj *s = o->storage;
    StDtype dt = s->global->dtype;
    size_t esize = st_dtype_size(dt);
    char key[96], member[1024];
    printable(s->s, s->len, key, sizeof key);
    t->dtype = dt;
    t->ndim = o->ndim;
    uint64_t numel = 1;
    for (int d = 0; d < o->ndim; d++) {
        if (o->shape[d] < 0)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s' has a negative dimension", name);
        t->shape[d] = o->shape[d];
        if (__builtin_mul_overflow(numel, (uint64_t)o->shape[d], &numel) || numel > INT64_MAX)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': shape overflows the element count", name);
    }
    t->numel = (int64_t)numel;
    // Row-major contiguity; a dim of size 1 is never stepped over, so its stride is free.
    uint64_t expect = 1;
    for (int d = o->ndim - 1; d >= 0 && numel; d--) {
        if (o->shape[d] != 1 && (o->stride[d] < 0 || (uint64_t)o->stride[d] != expect))
            return sdl_fail(SDL_ERR_FORMAT, file, "re-save the checkpoint with contiguous tensors (tensor.contiguous()), or " HINT_CONVERT,
                            "tensor '%s' is a non-contiguous view (dim %d has stride %lld, expected %llu); sdlora reads only contiguous tensors",
                            name, d, (long long)o->stride[d], (unsigned long long)expect);
        expect *= (uint64_t)o->shape[d]; // ≤ numel: no overflow
    }
    if (o->offset < 0 || (uint64_t)o->offset > (uint64_t)s->i || numel > (uint64_t)s->i - (uint64_t)o->offset)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED,
                        "tensor '%s' (%llu elements at offset %lld) reaches past the end of its storage '%s' (%lld elements)",
                        name, (unsigned long long)numel, (long long)o->offset, key, (long long)s->i);
    uint64_t storage_bytes;
    if (__builtin_mul_overflow((uint64_t)s->i, (uint64_t)esize, &storage_bytes))
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "storage '%s': element count overflows", key);
    const ZipEntry *e = NULL;
    size_t plen = strlen(prefix);
    if (plen + 5 + s->len < sizeof member && !memchr(s->s, 0, s->len)) {
        memcpy(member, prefix, plen);
        memcpy(member + plen, "data/", 5);
        memcpy(member + plen + 5, s->s, s->len);
        member[plen + 5 + s->len] = '\0';
        e = zip_find(z, member);
    }
    if (!e)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor '%s': its storage '%s' is not in the archive (no member '%sdata/%s')",
                        name, key, prefix, key);
    const unsigned char *data;
    SDL_TRY(zip_stored_data(z, e, file, &data));
    if (e->size < storage_bytes)
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "storage '%s' should hold %llu bytes (%lld %s elements) but its member has %llu",
                        key, (unsigned long long)storage_bytes, (long long)s->i, st_dtype_name(dt), (unsigned long long)e->size);
    t->nbytes = (size_t)(numel * esize);
    t->data = data + (size_t)o->offset * esize;
    t->offset = e->data_offset + (uint64_t)o->offset * esize;
    return SDL_OK;
}

static SdlStatus build_tensors(SafeTensors *st, const PkObj *root, const ZipArchive *z, const char *prefix, const char *file) {
    if (root->type != PK_DICT)
        return sdl_fail(SDL_ERR_FORMAT, file, "this is not a model checkpoint (state dict); give the model's .ckpt/.safetensors file",
                        "data.pkl holds a %s, not a dict of tensors", type_name(root->type));
    const PkObj *d = root, *inner;
    for (int depth = 0; depth < 8 && (inner = dict_get(d, "state_dict")) && inner->type == PK_DICT; depth++) d = inner;
    size_t n = 0;
    for (size_t k = 0; k + 1 < d->n; k += 2)
        if (d->items[k]->type == PK_STR && d->items[k + 1]->type == PK_TENSOR) n++;
    if (n == 0)
        return sdl_fail(SDL_ERR_FORMAT, file, "this is not a model checkpoint; give the model's .ckpt/.safetensors file",
                        "the checkpoint holds no tensors (no 'state_dict' entry and no tensors at the top level)");
    st->tensors = calloc(n, sizeof *st->tensors);
    st->by_name = malloc(n * sizeof *st->by_name);
    if (!st->tensors || !st->by_name) return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory for %zu tensors", n);
    char pb[160];
    for (size_t k = 0; k + 1 < d->n; k += 2) {
        const PkObj *key = d->items[k], *val = d->items[k + 1];
        if (key->type != PK_STR || val->type != PK_TENSOR) continue;
        if (memchr(key->s, 0, key->len))
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "a tensor name contains a NUL byte");
        StTensor *t = &st->tensors[st->n_tensors];
        if (!(t->name = strndup(key->s, key->len))) return sdl_fail(SDL_ERR_OOM, file, NULL, "out of memory");
        st->n_tensors++;
        SDL_TRY(make_tensor(t, val, printable(key->s, key->len, pb, sizeof pb), z, prefix, file));
    }
    for (int64_t i = 0; i < st->n_tensors; i++) st->by_name[i] = i;
    by_name_base = st->tensors;
    qsort(st->by_name, (size_t)st->n_tensors, sizeof *st->by_name, cmp_index_by_name);
    for (int64_t i = 1; i < st->n_tensors; i++) {
        const char *a = st->tensors[st->by_name[i - 1]].name, *b = st->tensors[st->by_name[i]].name;
        if (strcmp(a, b) == 0)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "tensor name '%s' appears twice", printable(a, strlen(a), pb, sizeof pb));
    }
    return SDL_OK;
}

// The single "<top>/data.pkl" (or a bare "data.pkl"); the top folder's name varies by writer.
static SdlStatus find_pickle(const ZipArchive *z, const char *file, const ZipEntry **out) {
    *out = NULL;
    for (size_t i = 0; i < z->n; i++) {
        const char *nm = z->entries[i].name, *slash = strchr(nm, '/');
        int match = slash ? strcmp(slash + 1, "data.pkl") == 0 && slash != nm : strcmp(nm, "data.pkl") == 0;
        if (!match) continue;
        if (*out)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_CONVERT, "the archive holds two pickles ('%s' and '%s'); which is the model is ambiguous",
                            (*out)->name, nm);
        *out = &z->entries[i];
    }
    if (!*out)
        return sdl_fail(SDL_ERR_FORMAT, file, "this zip is not a PyTorch checkpoint; give the model's .ckpt/.safetensors file",
                        "the zip archive has no <folder>/data.pkl member");
    return SDL_OK;
}

int ckpt_looks_like_zip(const void *bytes, size_t size) {
    return size >= 4 && memcmp(bytes, "PK\3\4", 4) == 0;
}

static SdlStatus parse(SafeTensors *st, const char *file) {
    if (!ckpt_looks_like_zip(st->bytes, st->size)) {
        if (st->size >= 2 && st->bytes[0] == 0x80)
            return sdl_fail(SDL_ERR_UNSUPPORTED, file, "load and re-save it with PyTorch >= 1.6, or " HINT_CONVERT,
                            "this is a legacy (pre-1.6, non-zip) PyTorch file, which sdlora does not read");
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "not a PyTorch checkpoint: it does not start with a zip header");
    }
    ZipArchive z;
    SDL_TRY(zip_open_memory(&z, st->bytes, st->size, file));
    const ZipEntry *pe = NULL;
    const unsigned char *pkl = NULL;
    SdlStatus status = find_pickle(&z, file, &pe);
    if (status == SDL_OK) status = zip_stored_data(&z, pe, file, &pkl);
    if (status == SDL_OK && zip_crc32(pkl, (size_t)pe->size) != pe->crc32)
        status = sdl_fail(SDL_ERR_FORMAT, file, HINT_DAMAGED, "'%s' fails its CRC check", pe->name);
    if (status == SDL_OK) {
        char prefix[512];
        size_t plen = strlen(pe->name) - strlen("data.pkl");
        if (plen >= sizeof prefix) plen = 0; // cannot happen for a name that matched; keeps the copy bounded
        memcpy(prefix, pe->name, plen);
        prefix[plen] = '\0';
        Vm vm = {.p = pkl, .size = (size_t)pe->size, .file = file};
        PkObj *root = NULL;
        status = run(&vm, &root);
        if (status == SDL_OK) status = build_tensors(st, root, &z, prefix, file);
        vm_free(&vm);
    }
    zip_close(&z);
    return status;
}

static void free_tensors(SafeTensors *st) {
    for (int64_t i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    free(st->by_name);
    st->tensors = NULL, st->by_name = NULL, st->n_tensors = 0;
}

SdlStatus ckpt_open_memory(SafeTensors *st, const void *bytes, size_t size, const char *name) {
    memset(st, 0, sizeof *st);
    if (!name) name = "(memory)";
    if (!bytes && size) return sdl_fail(SDL_ERR_ARG, name, NULL, "ckpt_open_memory: NULL buffer");
    st->bytes = bytes;
    st->size = size;
    st->data_size = size; // tensor offsets are file offsets
    SdlStatus status = parse(st, name);
    if (status == SDL_OK && !(st->path = strdup(name))) status = sdl_fail(SDL_ERR_OOM, name, NULL, "out of memory");
    if (status != SDL_OK) {
        free_tensors(st);
        memset(st, 0, sizeof *st);
    }
    return status;
}

SdlStatus ckpt_open(SafeTensors *st, const char *path) {
    return st_open_mapped(st, path, "a checkpoint file", ckpt_open_memory);
}
