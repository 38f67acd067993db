# Makefile fragment: npm dependencies of the OAuth 2.0 test server (oidc-provider).
# Same scheme as internal/testenv/scimmy/npm/install.mk: `npm ci` from the committed package-lock.json,
# and a stamp holding the lock file's SHA-256 that the Go launcher (oidcprovider.Start) checks too.

OAUTH_DIR ?= internal/testenv/oidcprovider/provider
OAUTH_STAMP := $(OAUTH_DIR)/node_modules/.scimsync-lock.sha256

.PHONY: oauth-deps oauth-clean

## oauth-deps: install the OAuth test server's npm packages if missing or stale
oauth-deps: $(OAUTH_STAMP)

$(OAUTH_STAMP): $(OAUTH_DIR)/package-lock.json $(OAUTH_DIR)/package.json
	@command -v node >/dev/null 2>&1 || { echo "oauth-deps: node (>= 20) not found on PATH" >&2; exit 1; }
	npm ci --no-audit --no-fund --prefix $(OAUTH_DIR)
	@node -e 'const c=require("crypto"),f=require("fs");f.writeFileSync(process.argv[2],c.createHash("sha256").update(f.readFileSync(process.argv[1])).digest("hex")+"\n")' $(OAUTH_DIR)/package-lock.json $@

oauth-clean:
	rm -rf $(OAUTH_DIR)/node_modules
