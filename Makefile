# mcp-gateway — `make run` starts the gateway on the example config; `make test` runs everything.
SHELL      := /bin/bash
GO         ?= go
BIN        := bin
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
LDFLAGS    := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
ADDR       ?= 127.0.0.1:8080
CONFIG     ?= examples/gateway.json
INTEROP    := testdata/interop
FUZZTIME   ?= 30s

.PHONY: all build examples run test test-go interop-deps lint fuzz clean bench release cross

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/mcp-gateway ./cmd/mcp-gateway

# The example upstreams that examples/gateway.json runs.
examples:
	$(GO) build -o $(BIN)/notes ./examples/upstreams/notes
	$(GO) build -o $(BIN)/toolbox ./examples/upstreams/toolbox

run: build examples
	@echo
	@echo "mcp-gateway on http://$(ADDR)/mcp  (config: $(CONFIG))"
	@echo "  merged catalog:   http://$(ADDR)/mcp"
	@echo "  one upstream:     http://$(ADDR)/mcp/notes   http://$(ADDR)/mcp/toolbox"
	@echo "  health / status:  http://$(ADDR)/health  http://$(ADDR)/readyz  http://$(ADDR)/upstreams"
	@echo "  list from a shell: $(BIN)/mcp-gateway tools --config $(CONFIG)"
	@echo "  Claude Desktop:   see README.md (\"command\": \"$(CURDIR)/$(BIN)/mcp-gateway\", \"args\": [\"serve\", \"--config\", \"$(CURDIR)/$(CONFIG)\"])"
	@echo
	$(BIN)/mcp-gateway serve --http $(ADDR) --config $(CONFIG)

# Pinned npm packages for the interop tests (TypeScript SDK client, reference servers).
$(INTEROP)/node_modules/.installed: $(INTEROP)/package-lock.json
	cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

interop-deps: $(INTEROP)/node_modules/.installed

test: interop-deps
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || \
		echo "make test: no chromium in PATH, so TestStatusPageInBrowser is SKIPPED (apt-get install chromium)"
	$(GO) test -race -count=1 -timeout 9m ./...

# staticcheck is pinned and fetched through the module proxy. SA1019 is off:
# sampling, roots and logging are deprecated in MCP 2026-07-28, and bridging
# them for clients of earlier versions is the gateway's job.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) -checks 'inherit,-SA1019' ./...

fuzz:
	@failed=; for t in config:FuzzParse auth:FuzzAuthenticateHeaders \
		aggregator:FuzzExposedName launch:FuzzLineFilter launch:FuzzEventTap aggregator:FuzzUpstreamMessages \
		transport:FuzzHTTPHandler transport:FuzzJSONDepth transport:FuzzOrigin transport:FuzzDuplicateKey \
		transport:FuzzCancelFilter envelope:FuzzRead \
		examples/deploy:FuzzDockerfile examples/deploy:FuzzDockerignore examples/deploy:FuzzPromQL \
		examples/deploy:FuzzServeLine \
		govern:FuzzCanonicalize govern:FuzzParseLock govern:FuzzAudit clientconfig:FuzzJSONC \
		upauth:FuzzParseChallenge upauth:FuzzParsePasted; do \
		pkg=$${t%%:*}; name=$${t#*:}; echo "== ./$$pkg $$name for $(FUZZTIME)"; \
		$(GO) test ./$$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) || failed="$$failed $$t"; \
	done; if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi

clean:
	rm -rf $(BIN) dist $(INTEROP)/node_modules

# Every desktop OS: Linux, macOS and Windows on amd64 and arm64.
TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

# The six release binaries, version stamped, in dist/. The one for this
# machine is run to check that the stamp took.
release:
	@rm -rf dist && mkdir -p dist
	@for t in $(TARGETS); do os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		out=dist/mcp-gateway-$(VERSION)-$$os-$$arch$$ext; echo "== $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/mcp-gateway || exit 1; \
	done
	@host=dist/mcp-gateway-$(VERSION)-$$($(GO) env GOOS)-$$($(GO) env GOARCH); [ -x $$host ] || host=$$host.exe; \
		got=$$($$host version); echo "$$host version: $$got"; \
		case "$$got" in *"$(VERSION)"*) ;; *) echo "release: the version stamp did not take"; exit 1;; esac
	@cd dist && sha256sum mcp-gateway-* > SHA256SUMS && cat SHA256SUMS

# Build and vet every package, tests included, for every target.
cross:
	@failed=; for t in $(TARGETS); do os=$${t%/*}; arch=$${t#*/}; echo "== $$os/$$arch: build, vet"; \
		GOOS=$$os GOARCH=$$arch $(GO) build ./... && GOOS=$$os GOARCH=$$arch $(GO) vet ./... || failed="$$failed $$t"; \
	done; if [ -n "$$failed" ]; then echo "cross: failed:$$failed"; exit 1; fi

bench: build
	$(GO) build -o $(BIN)/echo ./testdata/upstreams/echo
	$(GO) run ./cmd/mcp-gateway-bench --gateway $(BIN)/mcp-gateway --echo $(BIN)/echo $(BENCH_FLAGS)
