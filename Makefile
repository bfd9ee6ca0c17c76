# Two entry points: `make run` (the main job) and `make test`.
APT_PKGS := gcc libdnnl-dev libhdf5-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS ?=

# Packages whose tests run again under the race detector (not the compute
# kernels, whose tests would take too long with it).
RACE_PKGS := ./atomicfile ./filelock ./download ./safetensors ./h5 ./weights ./data ./serve
# Fuzz targets as package:Function:smoke-executions; `make fuzz FUZZTIME=1m`
# runs each in turn. The smoke run counts executions rather than seconds:
# with a duration, Go's fuzzing coordinator can report its own deadline as
# a failure ("context deadline exceeded", no failing input) when a worker is
# still busy as the time runs out. Each count is a few seconds' work.
FUZZ_TARGETS := safetensors:FuzzNewReader:200000 classifier:FuzzLoad:150 h5:FuzzOpen:3000 \
	models:FuzzKerasWeightFile:1500 data:FuzzDecode:40000 data:FuzzExtractZip:60 \
	data:FuzzParseSplitFile:15000 serve:FuzzClassify:4000 serve:FuzzFeedback:4000
FUZZTIME ?= 30s
# Go minimizes each new interesting input for up to 60 s by default, which
# leaves the targets whose inputs are slow (model files, zip archives) with
# almost no fuzzing time; a few seconds keep them fuzzing.
FUZZMINTIME ?= 2s

ORT_NODE := .cache/onnxruntime-node
TFJS_NODE := .cache/tfjs-node

.PHONY: deps build run test lint race fuzz fuzz-smoke loadtest bench ort tfjs beam beam-test

deps:
	@dpkg -s $(APT_PKGS) >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y $(APT_PKGS); }

build: deps
	go build -o trashsort ./cmd/trashsort

run: build
	./trashsort run $(ARGS)

test: deps lint
	go vet ./...
	go test -count=1 ./...
	$(MAKE) race
	$(MAKE) fuzz-smoke
	$(MAKE) beam-test

# gofmt and go.mod/go.sum as go mod tidy leaves them.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
		[ -z "$$out" ] || { echo "gofmt -l: $$out"; exit 1; }
	go mod tidy -diff

race: deps
	go test -race -short -count=1 -skip Browser $(RACE_PKGS)

# Each fuzz target for its count of executions, leaving the tree as it was.
fuzz-smoke: deps
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; n=$${rest##*:}; \
		go test -run '^$$' -fuzz "^$$fn$$" -fuzztime $${n}x -fuzzminimizetime $(FUZZMINTIME) ./$$pkg > /tmp/fuzz-smoke-$$fn.log 2>&1 \
			|| { cat /tmp/fuzz-smoke-$$fn.log; exit 1; }; \
		echo "fuzz smoke $$pkg $$fn: $$(grep -o 'execs: [0-9]*' /tmp/fuzz-smoke-$$fn.log | tail -1)"; \
	done

# Each target for FUZZTIME; new interesting inputs of the .h5 reader are
# kept in h5/testdata/fuzz (its corpus grows with every run).
fuzz: deps
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; \
		go test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) ./$$pkg > fuzz-$$fn.log 2>&1; rc=$$?; \
		echo "$$pkg $$fn: $$(grep -o 'execs: [0-9]*' fuzz-$$fn.log | tail -1) $$(tail -1 fuzz-$$fn.log)"; \
		[ $$rc = 0 ] || { cat fuzz-$$fn.log; exit 1; }; rm -f fuzz-$$fn.log; \
	done
	@mkdir -p h5/testdata/fuzz/FuzzOpen && cp -n "$$(go env GOCACHE)"/fuzz/trashsort/h5/FuzzOpen/* h5/testdata/fuzz/FuzzOpen/ 2>/dev/null || true

# The service's figures: 200 stalled uploads, 20 concurrent decode bombs
# against InceptionV3 and a soak of 20,000 mixed requests (TRASHSORT_SOAK_N
# to change).
# The stalled-upload row bounds the whole process's peak RSS, so it runs in
# a process of its own, before the others leave their heap behind.
loadtest: deps
	GOMP_SPINCOUNT=3000 TRASHSORT_LOADTEST=1 go test -count=1 -v -timeout 10m -run 'TestLoadStalledUploads' ./serve
	GOMP_SPINCOUNT=3000 TRASHSORT_LOADTEST=1 go test -count=1 -v -timeout 60m -run 'TestLoad' -skip 'TestLoadStalledUploads' ./serve

bench: build
	go test -run '^$$' -bench . -benchtime 3x ./dnnl ./models

# ONNX Runtime for Node, which the ONNX export test runs the exported model in
# (the test skips without it). --ignore-scripts: the CPU build ships in the package.
ort:
	@test -f $(ORT_NODE)/node_modules/onnxruntime-node/package.json || \
		npm install --ignore-scripts --no-audit --no-fund --prefix $(ORT_NODE) onnxruntime-node@1.30.0

# The Apache Beam pipelines (beam/, a module of its own): the command and
# its Prism tests. Apart from `make test` because compiling Beam's SDK takes
# longer than the tests (docs/BATCH.md).
beam: deps
	cd beam && go build -o ../trashsort-beam ./cmd/trashsort-beam

beam-test: deps
	cd beam && go vet ./... && go mod tidy -diff && go test -count=1 ./...

# TensorFlow.js and h5wasm for Node, which the Keras export tests build the
# exported models in, independent of our reader and engine (the tests skip
# without them). Plain JavaScript and WebAssembly: --ignore-scripts, nothing
# else is downloaded.
tfjs:
	@test -f $(TFJS_NODE)/node_modules/@tensorflow/tfjs/package.json -a -f $(TFJS_NODE)/node_modules/h5wasm/package.json || \
		npm install --ignore-scripts --no-audit --no-fund --prefix $(TFJS_NODE) @tensorflow/tfjs@4.22.0 h5wasm@0.10.3
