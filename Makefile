# terwayctl — every target installs what it needs first (fresh Debian 12 + Node/npm, as root).
SHELL := /bin/bash
.DEFAULT_GOAL := help

BUN := node_modules/.bin/bun
# Debian packages: runtime libraries (libnl, libbpf), the BPF toolchain, and the tools the
# tests and benchmarks cross-check with (ip, ping, tc, bpftool, sysctl, hyperfine).
# containernetworking-plugins: the reference CNI plugins the kubelet stand-in is tested with (and bench/cni
# compares against); iperf3: the e2e bandwidth test; time: GNU time for bench/cni's peak RSS;
# tmux: tests/e2e/tui-tmux.test.ts runs the diagnose TUI in a real terminal.
APT_PACKAGES := libnl-3-200 libnl-route-3-200 libbpf1 libbpf-dev clang llvm gcc make \
	iproute2 iputils-ping bpftool procps hyperfine containernetworking-plugins util-linux \
	iperf3 time tmux zsh fish
# zsh, fish: the completion tests parse and drive completions/ in each shell (bash is always there).
# kubectl: any 1.2x client works against the sim's apiserver; Debian's is the fallback.
KUBECTL_PACKAGE := $(if $(shell command -v kubectl),,kubernetes-client)
STAMP := node_modules/.terway-stamp

.PHONY: help setup apt deps bpf build completions test test-unit test-root demo demo-down demo-linux bench bench-datapath lint typecheck check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

setup: apt deps bpf ## install apt packages, bun + npm deps, build the BPF objects (idempotent)

apt: ## install missing Debian packages (apt-get only when something is missing)
	@missing=$$(for p in $(APT_PACKAGES) $(KUBECTL_PACKAGE); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt: installing $$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "apt: run as root to install: $$missing" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

deps: $(STAMP) ## npm dependencies, including the pinned bun runtime

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@# npm may skip bun's postinstall (allowScripts); it then still ships the binary, but check.
	@$(BUN) --version >/dev/null 2>&1 || node node_modules/bun/install.js
	@$(BUN) --version >/dev/null
	@touch $@

bpf: apt ## compile bpf/*.bpf.c into bpf/build/*.bpf.o
	$(MAKE) -s -C bpf

# --external react-devtools-core: ink's optional peer, imported only with DEV=true and not
# installed; without it the bundler fails to resolve it (the diagnose TUI bundles ink).
build: setup ## dist/terwayctl, one binary with the BPF objects embedded
	@mkdir -p dist
	$(BUN) build src/bin/terwayctl.ts --compile --minify --bytecode --format=esm --splitting \
		--external react-devtools-core \
		--define process.env.NODE_ENV='"production"' --outfile dist/terwayctl
	@dist/terwayctl --version

completions: deps ## regenerate completions/ (bash, zsh, fish) from the commander program
	@for s in bash zsh fish; do \
		case $$s in bash) f=terwayctl.bash;; zsh) f=_terwayctl;; fish) f=terwayctl.fish;; esac; \
		$(BUN) src/bin/terwayctl.ts completion $$s > completions/$$f.tmp && mv completions/$$f.tmp completions/$$f; \
	done
	@echo "completions/: bash, zsh, fish regenerated"

test: setup ## the whole suite (unit + root netns/bpf tiers + leak check); ends with "N passed, N failed"
	@bash scripts/test.sh

test-unit: deps ## unit tests only (no root needed)
	$(BUN) test src

demo: build ## the story: sim VPC + 2 nodes, pods, cross-node ping, a NetworkPolicy, diagnose; leaves the world up
	$(BUN) scripts/demo.ts

demo-down: ## remove the world `make demo` left up (exactly it: prefix twdemo)
	@if [ -x dist/terwayctl ]; then dist/terwayctl sim down --prefix $${DEMO_PREFIX:-twdemo}; \
	else $(BUN) src/bin/terwayctl.ts sim down --prefix $${DEMO_PREFIX:-twdemo}; fi

demo-linux: build ## the Linux layer alone: two namespaces, a veth, routes/rules, an eBPF counter, ping, clean up
	$(BUN) scripts/demo-linux.ts

bench: setup ## benchmarks (not tests): bench/netlink, library vs ip vs ip -batch
	$(BUN) bench/netlink/index.ts && $(BUN) bench/daemon/index.ts
	$(BUN) bench/cni/index.ts
	$(BUN) bench/policy/index.ts
	$(BUN) bench/datapath/index.ts

bench-datapath: setup ## datapath bench only: datapathv2 vs veth policy routing vs a plain routed veth (iperf3, ping, TCP RR)
	$(BUN) bench/datapath/index.ts

bench-policy: setup ## NetworkPolicy bench only: eBPF maps vs iptables vs no policy (iperf3, ping, TCP RR/CRR)
	$(BUN) bench/policy/index.ts

lint: deps ## biome format + lint
	node_modules/.bin/biome ci .

typecheck: deps ## tsc --noEmit (strict)
	node_modules/.bin/tsc --noEmit -p .

check: lint typecheck test ## everything CI checks

clean: ## remove build outputs
	rm -rf dist
	$(MAKE) -s -C bpf clean
