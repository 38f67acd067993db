# Makefile fragment: the npm packages of a Node.js test program (SCIMMY, oidc-provider), included by
# each program's install.mk. `npm ci` installs exactly the committed package-lock.json; the stamp holds
# the lock file's SHA-256, which the Go launcher (internal/testenv/npm) checks too, so whichever
# installs first, the other reuses it.

ifndef NPM_DEPS_MK
NPM_DEPS_MK := 1

# npm-deps defines $(1)-deps (install if missing or stale) and $(1)-clean for the program in folder
# $(2), which needs node >= $(3).
define npm-deps
.PHONY: $(1)-deps $(1)-clean

$(1)-deps: $(2)/node_modules/.scimsync-lock.sha256

$(2)/node_modules/.scimsync-lock.sha256: $(2)/package-lock.json $(2)/package.json
	@command -v node >/dev/null 2>&1 || { echo "$(1)-deps: node (>= $(3)) not found on PATH" >&2; exit 1; }
	@command -v npm >/dev/null 2>&1 || { echo "$(1)-deps: npm not found on PATH" >&2; exit 1; }
	npm ci --no-audit --no-fund --prefix $(2)
	@node -e 'const c=require("crypto"),f=require("fs");f.writeFileSync(process.argv[2],c.createHash("sha256").update(f.readFileSync(process.argv[1])).digest("hex")+"\n")' $(2)/package-lock.json $$@

$(1)-clean:
	rm -rf $(2)/node_modules
endef

endif
