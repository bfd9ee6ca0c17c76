# Two entry points: `make run` (the main job) and `make test`.
APT_PKGS := libdnnl-dev libhdf5-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS ?=

.PHONY: deps build run test bench

deps:
	@dpkg -s $(APT_PKGS) >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y $(APT_PKGS); }

build: deps
	go build -o trashsort ./cmd/trashsort

run: build
	./trashsort run $(ARGS)

test: deps
	go vet ./...
	go test -count=1 ./...

bench: build
	go test -run '^$$' -bench . -benchtime 3x ./dnnl ./models
