# Makefile fragment: npm dependencies of the SCIMMY end-to-end test target.
# Include it from the top-level Makefile (paths are relative to the repo root):
#
#   include internal/testenv/scimmy/npm/install.mk
#   test: scimmy-deps
#
# `npm ci` installs exactly package-lock.json from the npm registry (no git
# dependencies, no install scripts that download anything). The stamp file
# holds the lock file's SHA-256; the Go launcher (scimmy.Start)
# checks the same stamp, so whichever installs first, the other reuses it.

SCIMMY_DIR ?= internal/testenv/scimmy/npm
SCIMMY_STAMP := $(SCIMMY_DIR)/node_modules/.scimsync-lock.sha256

.PHONY: scimmy-deps scimmy-clean

## scimmy-deps: install the SCIMMY test target's npm packages if missing or stale
scimmy-deps: $(SCIMMY_STAMP)

$(SCIMMY_STAMP): $(SCIMMY_DIR)/package-lock.json $(SCIMMY_DIR)/package.json
	@command -v node >/dev/null 2>&1 || { echo "scimmy-deps: node (>= 18) not found on PATH" >&2; exit 1; }
	@command -v npm >/dev/null 2>&1 || { echo "scimmy-deps: npm not found on PATH" >&2; exit 1; }
	npm ci --no-audit --no-fund --prefix $(SCIMMY_DIR)
	@node -e 'const c=require("crypto"),f=require("fs");f.writeFileSync(process.argv[2],c.createHash("sha256").update(f.readFileSync(process.argv[1])).digest("hex")+"\n")' $(SCIMMY_DIR)/package-lock.json $@

## scimmy-clean: remove the SCIMMY test target's node_modules
scimmy-clean:
	rm -rf $(SCIMMY_DIR)/node_modules
