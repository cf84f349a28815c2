// clip_vocab_data.c — embeds the CLIP BPE vocabulary (data/clip/bpe_simple_vocab_16e6.txt.gz,
// MIT License, Copyright (c) 2021 OpenAI; see data/clip/README.md) into the binary.
//
// The assembler's .incbin copies the file's bytes into .rodata at build time, so sdlora needs
// no data files at run time and the build needs no generator step. The path is relative to the
// directory the compiler runs in (the repository root, as the Makefile does); override it with
// -DSDL_CLIP_VOCAB_PATH='"/abs/path.gz"'. The Makefile lists the .gz as a prerequisite of this
// object so that changing the data rebuilds it.
#include <stdint.h>

#ifndef SDL_CLIP_VOCAB_PATH
#define SDL_CLIP_VOCAB_PATH "data/clip/bpe_simple_vocab_16e6.txt.gz"
#endif

__asm__(
    "    .pushsection .rodata.sdl_clip_vocab,\"a\",@progbits\n"
    "    .balign 16\n"
    "    .globl sdl_clip_vocab_gz\n"
    "    .type sdl_clip_vocab_gz, @object\n"
    "sdl_clip_vocab_gz:\n"
    "    .incbin \"" SDL_CLIP_VOCAB_PATH "\"\n"
    ".Lsdl_clip_vocab_gz_end:\n"
    "    .size sdl_clip_vocab_gz, .Lsdl_clip_vocab_gz_end - sdl_clip_vocab_gz\n"
    "    .balign 8\n"
    "    .globl sdl_clip_vocab_gz_size\n"
    "    .type sdl_clip_vocab_gz_size, @object\n"
    "sdl_clip_vocab_gz_size:\n"
    "    .quad .Lsdl_clip_vocab_gz_end - sdl_clip_vocab_gz\n"
    "    .size sdl_clip_vocab_gz_size, 8\n"
    "    .popsection\n");
