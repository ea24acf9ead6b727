# Stratus build. Plain GNU make: `make`, `make run`, `make check`, `make deps`,
# `make SANITIZER=address|undefined|thread`, `make format`, `make bench`, `make conformance`.

CC        ?= gcc
SANITIZER ?=
PYTHON    ?= /usr/bin/python3
BUILD     := build/$(if $(SANITIZER),$(SANITIZER),release)

# snprintf truncation is the intended, bounded behaviour for messages and paths, so GCC's
# guesses about it (-Wformat-truncation) are off; every other warning is an error.
WARN   := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
          -Wno-format-nonliteral -Wno-format-truncation -Werror
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -pthread $(WARN) -Isrc -MMD -MP
LDLIBS := -pthread -lssl -lcrypto -lurcu-qsbr -lsqlite3 -lmicrohttpd -ljansson -lcurl

ifneq ($(SANITIZER),)
CFLAGS  += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZER)
endif

ROOMS    := common net proto acl proxy cluster scale meter control
# web_gen.c is named as well as globbed, so a tree without it regenerates it instead of failing to link.
LIB_SRC  := $(sort $(foreach r,$(ROOMS),$(wildcard src/$(r)/*.c)) src/control/web_gen.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC  := $(wildcard src/cli/*.c)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
# The unit tests link the CLI's files too, all but the one with main().
CLI_LIB_OBJ := $(filter-out $(BUILD)/src/cli/main.o,$(CLI_OBJ))
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)

STRATUS  := $(BUILD)/stratus
UNIT     := $(BUILD)/unit-tests

.PHONY: all run check deps fuzz valgrind conformance test-unit test-integration test-node format bench bench-scale bench-controlplane bench-failover bench-zones bench-hostile commands web clean

all: $(STRATUS) $(UNIT)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libstratus.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(STRATUS): $(CLI_OBJ) $(BUILD)/libstratus.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libstratus.a $(LDLIBS)
	@ln -sf $(if $(SANITIZER),$(SANITIZER),release)/stratus build/stratus

$(UNIT): $(UNIT_OBJ) $(CLI_LIB_OBJ) $(BUILD)/libstratus.a
	$(CC) $(LDFLAGS) -o $@ $(UNIT_OBJ) $(CLI_LIB_OBJ) $(BUILD)/libstratus.a $(LDLIBS)

# ---- fuzzing (libFuzzer, clang, ASan + UBSan): `make fuzz`, FUZZ_RUNS per target ----
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_RUNS    ?= 20000
CHECK_FUZZ_RUNS ?= 5000
FUZZ_CFLAGS  := -O1 -g -std=c11 -D_GNU_SOURCE -pthread $(filter-out -Wno-format-truncation,$(WARN)) -Isrc \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer -Wno-for-loop-analysis
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/libstratus.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libstratus.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_BUILD)/libstratus.a $(LDLIBS) -o $@

fuzz: deps $(FUZZ_TARGETS)
	./tests/fuzz/run $(FUZZ_RUNS) $(FUZZ_TARGETS)

deps:
	@./scripts/deps.sh

run: deps $(STRATUS)
	$(STRATUS) up $(ARGS)

test-unit: $(UNIT)
	$(UNIT)

test-integration: $(STRATUS)
	STRATUS_API_PORT=0 STRATUS_BIN=$(abspath $(STRATUS)) $(PYTHON) -m pytest -q tests/integration

test-node: $(STRATUS)
	cd tests/node && STRATUS_API_PORT=0 STRATUS_BIN=$(abspath $(STRATUS)) node --test

check: deps all
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory fuzz FUZZ_RUNS=$(CHECK_FUZZ_RUNS)
	$(MAKE) --no-print-directory test-integration
	$(MAKE) --no-print-directory test-node

# Unit tests under valgrind (part of .ci/run): no error, no definite leak.
valgrind: deps $(UNIT)
	valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite $(UNIT)

# Redis 7.0.15's own test suite against fresh caches (plaintext, TLS, 3 shards, RESP3), side by
# side; fails below the floor in tests/conformance/floor (part of .ci/run, release build).
conformance: deps $(STRATUS)
	STRATUS_BIN=$(abspath $(STRATUS)) $(PYTHON) tests/conformance/run

bench: deps $(STRATUS)
	STRATUS_API_PORT=0 STRATUS_BIN=$(abspath $(STRATUS)) ./bench/compare

bench-scale: deps $(STRATUS)
	STRATUS_API_PORT=0 STRATUS_BIN=$(abspath $(STRATUS)) ./bench/scale

bench-controlplane: deps $(STRATUS)
	STRATUS_API_PORT=0 STRATUS_BIN=$(abspath $(STRATUS)) ./bench/controlplane

bench-failover: deps $(STRATUS)
	STRATUS_API_PORT=0 STRATUS_BIN=$(abspath $(STRATUS)) ./bench/failover

bench-zones: deps $(STRATUS)
	STRATUS_API_PORT=0 STRATUS_BIN=$(abspath $(STRATUS)) ./bench/zones

bench-hostile: deps $(STRATUS)
	STRATUS_API_PORT=0 STRATUS_BIN=$(abspath $(STRATUS)) ./bench/hostile

# Regenerate the command table and docs/commands.md from the committed Redis COMMAND dump.
commands:
	$(PYTHON) scripts/gen-commands.py

# Embed the web console (web/) in the binary; any build after a change in web/ does it too.
web: src/control/web_gen.c

src/control/web_gen.c: $(wildcard web/*) scripts/embed-web.py
	$(PYTHON) scripts/embed-web.py

format:
	clang-format -i $(shell find src tests/unit -name '*.[ch]' ! -name '*_gen.c')

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UNIT_OBJ:.o=.d)
