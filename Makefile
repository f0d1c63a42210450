# r1 - the two commands a newcomer runs (see README.md):
#   make run    install what is needed, build, and run r1 on the default model
#   make test   install what is needed, build, and pass all tests
# Other targets: build, asan (sanitizer build + unit tests), fuzz, bench, clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
MODEL      ?= $(R1_MODEL)
DEFAULT_MODEL = models/r1-tiny-placeholder-q8_0.gguf
FUZZ_SECONDS ?= 60
FUZZ_HARNESSES ?= gguf tokenize api metrics sealed jwt audio decoder_reply multipart vad_model whisper_model whisper_rules tts_text speech_request

.PHONY: all deps build run test unit-tests asan fuzz clean default-model

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# The placeholder model: random weights in a real architecture's layout,
# written by r1 itself (no model can be downloaded on the build machines).
$(DEFAULT_MODEL): | build
	@mkdir -p models
	@$(BUILD)/r1 model gen --shape tiny --type q8_0 --seed 1 -o $@

default-model: $(DEFAULT_MODEL)

run: build
	@./scripts/run.sh "$(BUILD)/r1" "$(MODEL)" "$(DEFAULT_MODEL)"

unit-tests: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DR1_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j$(JOBS)

test: build
	@./scripts/test.sh "$(BUILD)" "$(ASAN_BUILD)" "$(JOBS)"

# Each harness in turn for FUZZ_SECONDS (e.g. make fuzz FUZZ_SECONDS=600
# FUZZ_HARNESSES=jwt); findings land in $(FUZZ_BUILD).
fuzz: deps
	@for h in $(FUZZ_HARNESSES); do \
		echo "== fuzz $$h, $(FUZZ_SECONDS) s"; \
		R1_FUZZ_BUILD=$(CURDIR)/$(FUZZ_BUILD) ./fuzz/run-fuzz.sh $(FUZZ_SECONDS) $(CURDIR)/../shared/testdata $$h || exit 1; \
	done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-clang build-tsan
