# sdlora — plain Makefile. Targets:
#   make            build build/sdlora
#   make test       build and run every test (tests/run.sh prints "N passed, N failed")
#   make bench      build and run the benchmarks under bench/ (results: bench/RESULTS.md)
#   make asan       build everything with AddressSanitizer + UBSan into build-asan/ and run the tests
#   make clean
# Options: CC=clang, OPT="-O2", ARCH="-march=x86-64-v3", NO_OMP=1.

CC      ?= cc
OPT     ?= -O3
ARCH    ?= -march=native
PKGS    := openblas libcjson zlib libutf8proc libpng libjpeg libwebp
BUILD   ?= build

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
ifeq ($(PKG_LIBS),)
  $(error pkg-config found no $(PKGS): run scripts/install-deps.sh)
endif

ifeq ($(NO_OMP),1)
  OMP := -fopenmp-simd -Wno-unknown-pragmas
else
  OMP := -fopenmp
endif

# No -ffast-math: the ops rely on IEEE NaN/Inf and exact rounding (see docs/ops.md).
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(ARCH) $(OMP) -g -Wall -Wextra -Wno-unused-parameter \
           -Wshadow -Wstrict-prototypes -Isrc $(PKG_CFLAGS) $(SAN)
LDLIBS  += $(PKG_LIBS) -lm $(OMP) $(SAN)

LIB_SRC   := $(sort $(wildcard src/*/*.c))
# cli/options.c is the option parser train/train_args.c shares with the commands: it is library code
LIB_SRC   := $(filter-out src/cli/%,$(LIB_SRC)) src/cli/options.c
CLI_SRC   := $(filter-out src/cli/options.c,$(sort $(wildcard src/cli/*.c)))
TEST_SUPPORT_SRC := tests/harness.c tests/gradcheck.c tests/fixtures.c
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
TOOL_SRC  := $(sort $(wildcard tools/*.c))
TTOOL_SRC := $(sort $(wildcard tests/tool_*.c))   # test-only helper programs (run by tests/check_*.sh)

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
TSUP_OBJ  := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)
TEST_BIN  := $(TEST_SRC:%.c=$(BUILD)/%)
BENCH_BIN := $(BENCH_SRC:%.c=$(BUILD)/%)
TOOL_BIN  := $(TOOL_SRC:%.c=$(BUILD)/%)
TTOOL_BIN := $(TTOOL_SRC:%.c=$(BUILD)/%)
LIB       := $(BUILD)/libsdlora.a

.PHONY: all test bench asan clean tests tools demo
# keep test and tool objects (otherwise make deletes them as intermediates and rebuilds every time)
.SECONDARY:
all: $(BUILD)/sdlora tools

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The CLIP vocabulary is embedded with .incbin (src/models/clip_vocab_data.c): rebuild on change.
$(BUILD)/src/models/clip_vocab_data.o: data/clip/bpe_simple_vocab_16e6.txt.gz

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sdlora: $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TSUP_OBJ) $(LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/%: $(BUILD)/tools/%.o $(LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

tools: $(TOOL_BIN)
tests: $(TEST_BIN) $(TTOOL_BIN) $(BUILD)/sdlora tools

test: tests
	BUILD=$(BUILD) tests/run.sh

bench: $(BENCH_BIN) $(BUILD)/sdlora
	BUILD=$(BUILD) bench/run.sh

# The README's first command: a LoRA trained end to end on a tiny model and a dataset that
# sdlora generates itself (no downloads), with samples and TensorBoard logs, in demo/.
DEMO ?= demo
demo: $(BUILD)/sdlora
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BUILD)/sdlora init-model --preset tiny --seed 1 --out $(DEMO)/model
	$(BUILD)/sdlora init-dataset --out $(DEMO)/data --count 12 --size 64
	@printf 'shapes, a red circle on a blue background --w 64 --h 64 --s 20 --d 1\nshapes, a yellow triangle --w 64 --h 64 --s 20 --d 2\n' >$(DEMO)/prompts.txt
	$(BUILD)/sdlora train --pretrained_model_name_or_path $(DEMO)/model --train_data_dir $(DEMO)/data \
	    --caption_extension .txt --resolution 64 --output_dir $(DEMO)/out --output_name shapes \
	    --network_dim 4 --network_alpha 2 --learning_rate 3e-3 --max_train_epochs 4 --save_every_n_epochs 2 \
	    --cache_latents --sample_prompts $(DEMO)/prompts.txt --sample_every_n_epochs 2 --logging_dir $(DEMO)/logs --seed 1
	@echo "outputs: $(DEMO)/out (LoRA files), $(DEMO)/out/sample (sample images), $(DEMO)/logs (TensorBoard)"

asan:
	SDLORA_TEST_QUICK=1 $(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" test

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
